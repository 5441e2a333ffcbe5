//! 95% confidence intervals of a benchmark score by the bootstrap over its questions: the
//! questions drawn again with replacement, the mean taken, 2,000 times; the 2.5th and 97.5th
//! percentiles of those means. Seeded, so that results.csv is the same on every rewrite.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub const RESAMPLES: usize = 2000;
const SEED: u64 = 0;

/// The interval of the mean of `correct` (each question's score in [0, 1]); none without
/// questions, or when `score` is not that mean (MME's pairs, CV-Bench's average of 2D and 3D
/// over unequal counts): the interval would then not be the headline's.
pub fn interval(correct: &[f64], score: f64) -> Option<(f64, f64)> {
    let n = correct.len();
    if n == 0 || (correct.iter().sum::<f64>() / n as f64 - score).abs() > 1e-9 {
        return None;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(SEED);
    let mut means: Vec<f64> =
        (0..RESAMPLES).map(|_| (0..n).map(|_| correct[rng.random_range(0..n)]).sum::<f64>() / n as f64).collect();
    means.sort_by(f64::total_cmp);
    Some((means[RESAMPLES * 25 / 1000], means[RESAMPLES * 975 / 1000 - 1]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_interval_covers_the_mean_with_the_normal_width() {
        // 400 questions, 60% right: the normal approximation's half-width is 1.96 * sqrt(.6 * .4 / 400) = 0.048.
        let correct: Vec<f64> = (0..400).map(|i| if i % 5 < 3 { 1.0 } else { 0.0 }).collect();
        let (low, high) = interval(&correct, 0.6).unwrap();
        assert!(low < 0.6 && 0.6 < high, "{low} {high}");
        assert!(((high - low) / 2.0 - 0.048).abs() < 0.006, "{low} {high}");
        assert_eq!(interval(&correct, 0.6), Some((low, high)), "seeded: the same on every call");
    }

    #[test]
    fn no_interval_for_a_score_that_is_not_the_mean() {
        assert_eq!(interval(&[1.0, 0.0], 0.7), None);
        assert_eq!(interval(&[], 0.0), None);
    }

    #[test]
    fn a_constant_score_has_a_point_interval() {
        assert_eq!(interval(&[1.0; 50], 1.0), Some((1.0, 1.0)));
    }
}
