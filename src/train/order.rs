//! The data order: every epoch is a permutation of the examples, drawn from (seed, stage,
//! epoch) alone, and the stage reads the epochs back to back. Optimizer step s takes
//! positions s·batch .. (s+1)·batch of that stream, so a resumed run needs only the step to
//! see the same examples in the same order.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

pub struct DataOrder {
    examples: usize,
    seed: u64,
    stage: u64,
    epoch: Option<(u64, Vec<usize>)>,
}

impl DataOrder {
    pub fn new(examples: usize, seed: u64, stage: u64) -> Self {
        Self { examples, seed, stage, epoch: None }
    }

    /// The example at stream position `position`.
    pub fn at(&mut self, position: u64) -> usize {
        let n = self.examples as u64;
        let epoch = position / n;
        if self.epoch.as_ref().is_none_or(|(e, _)| *e != epoch) {
            let mut order: Vec<usize> = (0..self.examples).collect();
            let stream = self.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (self.stage << 32) ^ epoch;
            order.shuffle(&mut ChaCha8Rng::seed_from_u64(stream));
            self.epoch = Some((epoch, order));
        }
        self.epoch.as_ref().expect("just set").1[(position % n) as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_epoch_is_a_permutation_and_reproducible() {
        let mut order = DataOrder::new(7, 3, 1);
        let first: Vec<usize> = (0..14).map(|p| order.at(p)).collect();
        for epoch in first.chunks(7) {
            let mut sorted = epoch.to_vec();
            sorted.sort();
            assert_eq!(sorted, (0..7).collect::<Vec<_>>());
        }
        assert_ne!(first[..7], first[7..], "epochs are shuffled apart");
        let mut again = DataOrder::new(7, 3, 1);
        assert_eq!((5..14).map(|p| again.at(p)).collect::<Vec<_>>(), first[5..]);
        let mut other_stage = DataOrder::new(7, 3, 2);
        assert_ne!((0..7).map(|p| other_stage.at(p)).collect::<Vec<_>>(), first[..7]);
    }
}
