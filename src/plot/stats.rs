//! The few statistics the figures need: mean and spread over seeds, Pearson correlation, and
//! a principal-component projection (Jacobi eigen-decomposition of a small symmetric matrix).

/// A mean over seeds (or runs) with its sample standard deviation where there are two or more.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stat {
    pub mean: f64,
    pub sd: Option<f64>,
    pub n: usize,
}

impl Stat {
    pub fn of(values: &[f64]) -> Option<Stat> {
        let n = values.len();
        let mean = mean(values)?;
        let sd = (n > 1).then(|| (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt());
        Some(Stat { mean, sd, n })
    }
}

pub fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

/// Values as z-scores (mean 0, sample s.d. 1); values that do not vary become zeros.
pub fn standardise(values: &[f64]) -> Vec<f64> {
    match Stat::of(values) {
        Some(Stat { mean, sd: Some(sd), .. }) if sd > 0.0 => values.iter().map(|v| (v - mean) / sd).collect(),
        _ => vec![0.0; values.len()],
    }
}

/// Pearson correlation of paired values; None with fewer than 3 pairs or a constant side.
pub fn pearson(pairs: &[(f64, f64)]) -> Option<f64> {
    if pairs.len() < 3 {
        return None;
    }
    let mx = pairs.iter().map(|p| p.0).sum::<f64>() / pairs.len() as f64;
    let my = pairs.iter().map(|p| p.1).sum::<f64>() / pairs.len() as f64;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (x, y) in pairs {
        sxy += (x - mx) * (y - my);
        sxx += (x - mx).powi(2);
        syy += (y - my).powi(2);
    }
    (sxx > 0.0 && syy > 0.0).then(|| sxy / (sxx * syy).sqrt())
}

/// A 2-D principal-component projection of points.
pub struct Projection {
    /// [points][2]
    pub coords: Vec<[f64; 2]>,
    /// Share of the total variance along each of the two axes.
    pub explained: [f64; 2],
}

/// Projects `points` ([points][features], at least 3 points) on their first two principal
/// components. Each component's sign is fixed so that its largest loading is positive.
pub fn pca(points: &[Vec<f64>]) -> Option<Projection> {
    let n = points.len();
    let dims = points.first()?.len();
    if n < 3 || dims == 0 {
        return None;
    }
    let centroid: Vec<f64> = (0..dims).map(|d| points.iter().map(|p| p[d]).sum::<f64>() / n as f64).collect();
    let centred: Vec<Vec<f64>> = points.iter().map(|p| p.iter().zip(&centroid).map(|(v, c)| v - c).collect()).collect();
    // Gram matrix [n, n]: its eigenvectors scaled by √eigenvalue are the point coordinates.
    let gram: Vec<Vec<f64>> =
        centred.iter().map(|a| centred.iter().map(|b| a.iter().zip(b).map(|(x, y)| x * y).sum()).collect()).collect();
    let (values, vectors) = jacobi_eigen(gram);
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| values[b].total_cmp(&values[a]));
    let total: f64 = values.iter().map(|v| v.max(0.0)).sum();
    if total <= 0.0 {
        return None;
    }
    let mut coords = vec![[0.0; 2]; n];
    let mut explained = [0.0; 2];
    for (axis, &k) in order.iter().take(2).enumerate() {
        let scale = values[k].max(0.0).sqrt();
        let largest = (0..n).max_by(|&a, &b| vectors[a][k].abs().total_cmp(&vectors[b][k].abs())).unwrap_or(0);
        let sign = if vectors[largest][k] < 0.0 { -1.0 } else { 1.0 };
        for (i, coord) in coords.iter_mut().enumerate() {
            coord[axis] = sign * vectors[i][k] * scale;
        }
        explained[axis] = values[k].max(0.0) / total;
    }
    Some(Projection { coords, explained })
}

/// Eigenvalues and eigenvectors (as columns: `vectors[row][k]`) of a symmetric matrix, by
/// cyclic Jacobi rotations.
fn jacobi_eigen(mut a: Vec<Vec<f64>>) -> (Vec<f64>, Vec<Vec<f64>>) {
    let n = a.len();
    let mut v: Vec<Vec<f64>> = (0..n).map(|i| (0..n).map(|j| if i == j { 1.0 } else { 0.0 }).collect()).collect();
    let scale: f64 = a.iter().flatten().map(|x| x * x).sum::<f64>().max(f64::MIN_POSITIVE);
    for _sweep in 0..100 {
        let off: f64 =
            (0..n).flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j))).map(|(i, j)| a[i][j].powi(2)).sum();
        if off <= 1e-22 * scale {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                if a[p][q].abs() < f64::MIN_POSITIVE {
                    continue;
                }
                let theta = (a[q][q] - a[p][p]) / (2.0 * a[p][q]);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let (c, s) = (1.0 / (t * t + 1.0).sqrt(), t / (t * t + 1.0).sqrt());
                for row in a.iter_mut() {
                    let (akp, akq) = (row[p], row[q]);
                    row[p] = c * akp - s * akq;
                    row[q] = s * akp + c * akq;
                }
                let (row_p, row_q) = (a[p].clone(), a[q].clone());
                for (k, (apk, aqk)) in row_p.into_iter().zip(row_q).enumerate() {
                    a[p][k] = c * apk - s * aqk;
                    a[q][k] = s * apk + c * aqk;
                }
                for row in v.iter_mut() {
                    let (vp, vq) = (row[p], row[q]);
                    row[p] = c * vp - s * vq;
                    row[q] = s * vp + c * vq;
                }
            }
        }
    }
    ((0..n).map(|i| a[i][i]).collect(), v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_has_a_spread_only_over_two_or_more_and_standardises() {
        assert_eq!(Stat::of(&[0.5]), Some(Stat { mean: 0.5, sd: None, n: 1 }));
        let two = Stat::of(&[1.0, 3.0]).unwrap();
        assert_eq!((two.mean, two.n), (2.0, 2));
        assert!((two.sd.unwrap() - 2f64.sqrt()).abs() < 1e-12);
        assert_eq!(Stat::of(&[]), None);
        let z = standardise(&[1.0, 3.0]);
        assert!((z[0] + 0.5f64.sqrt()).abs() < 1e-12 && (z[1] - 0.5f64.sqrt()).abs() < 1e-12, "{z:?}");
        assert_eq!(standardise(&[2.0, 2.0, 2.0]), [0.0; 3]);
    }

    #[test]
    fn pearson_of_a_line_is_one_and_of_its_mirror_minus_one() {
        let up: Vec<(f64, f64)> = (0..5).map(|i| (i as f64, 2.0 * i as f64 + 1.0)).collect();
        let down: Vec<(f64, f64)> = (0..5).map(|i| (i as f64, -(i as f64))).collect();
        assert!((pearson(&up).unwrap() - 1.0).abs() < 1e-12);
        assert!((pearson(&down).unwrap() + 1.0).abs() < 1e-12);
        assert_eq!(pearson(&[(1.0, 1.0), (2.0, 2.0)]), None);
    }

    #[test]
    fn pca_finds_the_long_axis_and_keeps_distances_of_planar_points() {
        // Points along (1, 1, 0) with a small spread along z: a plane, so two components
        // keep every distance, and the first carries almost all the variance.
        let points: Vec<Vec<f64>> =
            [(-2.0, 0.1), (-1.0, -0.1), (0.0, 0.0), (1.0, 0.1), (2.0, -0.1)].iter().map(|&(t, z)| vec![t, t, z]).collect();
        let projection = pca(&points).unwrap();
        assert!(projection.explained[0] > 0.99, "{:?}", projection.explained);
        assert!((projection.explained[0] + projection.explained[1] - 1.0).abs() < 1e-9);
        let distance = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum::<f64>().sqrt();
        for i in 0..points.len() {
            for j in 0..points.len() {
                let projected = distance(&projection.coords[i], &projection.coords[j]);
                assert!((projected - distance(&points[i], &points[j])).abs() < 1e-9, "{i}, {j}");
            }
        }
    }
}
