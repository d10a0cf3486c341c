//! Plain-number metrics used by tests, the site and the weights report.

/// Area under the ROC curve for telling `likely` from `unlikely` by energy: the probability that
/// a random likely item has a lower energy than a random unlikely one (ties count half).
/// Returns `None` when either side is empty or holds a non-finite value.
pub fn auroc_lower_is_positive(likely: &[f32], unlikely: &[f32]) -> Option<f64> {
    if likely.is_empty() || unlikely.is_empty() || likely.iter().chain(unlikely).any(|v| !v.is_finite()) {
        return None;
    }
    // Rank-sum (Mann–Whitney U) over the pooled, sorted values.
    let mut pooled: Vec<(f32, bool)> = likely.iter().map(|&v| (v, true)).chain(unlikely.iter().map(|&v| (v, false))).collect();
    pooled.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut rank_sum_unlikely = 0.0f64;
    let mut i = 0;
    while i < pooled.len() {
        let mut j = i;
        while j < pooled.len() && pooled[j].0 == pooled[i].0 {
            j += 1;
        }
        let mean_rank = (i + 1 + j) as f64 / 2.0;
        rank_sum_unlikely += mean_rank * pooled[i..j].iter().filter(|p| !p.1).count() as f64;
        i = j;
    }
    let (n_pos, n_neg) = (likely.len() as f64, unlikely.len() as f64);
    let u = rank_sum_unlikely - n_neg * (n_neg + 1.0) / 2.0;
    Some(u / (n_pos * n_neg))
}

/// Per-channel mean and standard deviation of NCHW images stored flat.
pub fn channel_mean_std(values: &[f32], channels: usize, pixels_per_channel: usize) -> Vec<(f64, f64)> {
    let mut sums = vec![(0.0f64, 0.0f64, 0usize); channels];
    for (chunk_index, chunk) in values.chunks(pixels_per_channel).enumerate() {
        let s = &mut sums[chunk_index % channels];
        for &v in chunk {
            s.0 += v as f64;
            s.1 += (v as f64) * (v as f64);
        }
        s.2 += chunk.len();
    }
    sums.into_iter()
        .map(|(sum, sq, n)| {
            let n = n.max(1) as f64;
            let mean = sum / n;
            (mean, (sq / n - mean * mean).max(0.0).sqrt())
        })
        .collect()
}

/// Histogram of `values` over [lo, hi] in `bins` equal bins (values outside are clamped in).
pub fn histogram(values: &[f32], lo: f32, hi: f32, bins: usize) -> Vec<u32> {
    let mut counts = vec![0u32; bins.max(1)];
    let width = (hi - lo).max(f32::EPSILON) / counts.len() as f32;
    for &v in values.iter().filter(|v| v.is_finite()) {
        let b = (((v - lo) / width).floor().max(0.0) as usize).min(counts.len() - 1);
        counts[b] += 1;
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auroc_of_separated_sets_is_one_and_of_reversed_is_zero() {
        assert_eq!(auroc_lower_is_positive(&[0.0, 1.0], &[2.0, 3.0]), Some(1.0));
        assert_eq!(auroc_lower_is_positive(&[2.0, 3.0], &[0.0, 1.0]), Some(0.0));
        assert_eq!(auroc_lower_is_positive(&[1.0], &[1.0]), Some(0.5));
        assert_eq!(auroc_lower_is_positive(&[], &[1.0]), None);
        assert_eq!(auroc_lower_is_positive(&[f32::NAN], &[1.0]), None);
    }

    #[test]
    fn auroc_matches_pair_counting() {
        let a = [0.3, 0.1, 0.7, 0.7, 0.2];
        let b = [0.5, 0.7, 0.05, 0.9];
        let mut wins = 0.0;
        for x in a {
            for y in b {
                wins += if x < y {
                    1.0
                } else if x == y {
                    0.5
                } else {
                    0.0
                };
            }
        }
        let expected = wins / 20.0;
        assert!((auroc_lower_is_positive(&a, &b).unwrap() - expected).abs() < 1e-12);
    }

    #[test]
    fn channel_stats_and_histogram() {
        // Two images, two channels of two pixels: channel 0 holds 1,3,1,3; channel 1 holds 0s.
        let v = [1.0, 3.0, 0.0, 0.0, 1.0, 3.0, 0.0, 0.0];
        let s = channel_mean_std(&v, 2, 2);
        assert!((s[0].0 - 2.0).abs() < 1e-9 && (s[0].1 - 1.0).abs() < 1e-9);
        assert!(s[1].0.abs() < 1e-9 && s[1].1.abs() < 1e-9);
        assert_eq!(histogram(&[-5.0, 0.1, 0.9, 5.0], 0.0, 1.0, 2), vec![2, 2]);
    }
}
