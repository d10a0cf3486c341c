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

/// How a classifier did on labelled rows, beside the baseline of always answering the most
/// common label.
#[derive(serde::Serialize, Clone, Debug, PartialEq)]
pub struct Classification {
    pub rows: usize,
    /// Share of rows whose predicted class is their label.
    pub accuracy: f64,
    /// Accuracy of always answering the most common label of these rows.
    pub majority_baseline: f64,
    pub majority_class: usize,
    /// confusion[true][predicted] counts, over `classes` classes.
    pub confusion: Vec<Vec<usize>>,
}

impl Classification {
    /// Compares `predicted` classes with the `truth` labels (row by row; `classes` at least).
    pub fn of(truth: &[u8], predicted: &[usize], classes: usize) -> Self {
        let classes = truth.iter().map(|&l| l as usize + 1).chain(predicted.iter().map(|&p| p + 1)).fold(classes, usize::max);
        let mut confusion = vec![vec![0usize; classes]; classes];
        for (&t, &p) in truth.iter().zip(predicted) {
            confusion[t as usize][p] += 1;
        }
        let rows = truth.len().min(predicted.len());
        let right: usize = (0..classes).map(|k| confusion[k][k]).sum();
        let per_class: Vec<usize> = confusion.iter().map(|row| row.iter().sum()).collect();
        let (majority_class, &majority) = per_class.iter().enumerate().max_by_key(|(k, n)| (**n, std::cmp::Reverse(*k))).unwrap_or((0, &0));
        let share = |n: usize| if rows == 0 { 0.0 } else { n as f64 / rows as f64 };
        Self { rows, accuracy: share(right), majority_baseline: share(majority), majority_class, confusion }
    }
}

/// Mean cross-entropy −log p(label | x) of class probabilities (one row per image) against the
/// labels, beside that of the labels' own frequencies (the prior, which knows nothing of the
/// images): a head still below the majority baseline in accuracy shows here whether it has
/// learnt anything at all. Probabilities are floored at 1e-12 so one confident miss stays finite.
#[derive(serde::Serialize, Clone, Copy, Debug, PartialEq)]
pub struct CrossEntropy {
    pub model: f64,
    pub prior: f64,
}

impl CrossEntropy {
    pub fn of(truth: &[u8], probabilities: &[Vec<f32>]) -> Self {
        let rows = truth.len().min(probabilities.len());
        if rows == 0 {
            return Self { model: 0.0, prior: 0.0 };
        }
        let nll = |p: f64| -p.max(1e-12).ln();
        let model = truth.iter().zip(probabilities).map(|(&t, row)| nll(row.get(t as usize).map_or(0.0, |&p| f64::from(p)))).sum::<f64>();
        let mut counts = std::collections::BTreeMap::<u8, usize>::new();
        truth[..rows].iter().for_each(|&t| *counts.entry(t).or_default() += 1);
        let prior = counts.values().map(|&n| n as f64 * nll(n as f64 / rows as f64)).sum::<f64>();
        Self { model: model / rows as f64, prior: prior / rows as f64 }
    }
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
    fn classification_counts_the_confusion_and_the_majority_baseline() {
        let c = Classification::of(&[0, 0, 0, 1], &[0, 1, 0, 1], 3);
        assert_eq!(c.rows, 4);
        assert_eq!(c.accuracy, 0.75);
        assert_eq!((c.majority_class, c.majority_baseline), (0, 0.75));
        assert_eq!(c.confusion, vec![vec![2, 1, 0], vec![0, 1, 0], vec![0, 0, 0]]);
        // A prediction beyond `classes` widens the table instead of panicking.
        assert_eq!(Classification::of(&[0], &[4], 2).confusion.len(), 5);
    }

    #[test]
    fn cross_entropy_of_a_sure_right_head_is_zero_and_the_prior_is_the_label_entropy() {
        let truth = [0, 0, 0, 1];
        let sure = CrossEntropy::of(&truth, &[vec![1.0, 0.0], vec![1.0, 0.0], vec![1.0, 0.0], vec![0.0, 1.0]]);
        let entropy = -(0.75f64 * 0.75f64.ln() + 0.25 * 0.25f64.ln());
        assert!(sure.model.abs() < 1e-9 && (sure.prior - entropy).abs() < 1e-9, "{sure:?}");
        // Answering the prior itself scores the prior; a confident miss is large but finite.
        let prior_rows = vec![vec![0.75, 0.25]; 4];
        assert!((CrossEntropy::of(&truth, &prior_rows).model - entropy).abs() < 1e-6);
        let miss = CrossEntropy::of(&[1], &[vec![1.0, 0.0]]);
        assert!(miss.model.is_finite() && miss.model > 20.0, "{miss:?}");
    }

    #[test]
    fn channel_stats() {
        // Two images, two channels of two pixels: channel 0 holds 1,3,1,3; channel 1 holds 0s.
        let v = [1.0, 3.0, 0.0, 0.0, 1.0, 3.0, 0.0, 0.0];
        let s = channel_mean_std(&v, 2, 2);
        assert!((s[0].0 - 2.0).abs() < 1e-9 && (s[0].1 - 1.0).abs() < 1e-9);
        assert!(s[1].0.abs() < 1e-9 && s[1].1.abs() < 1e-9);
    }
}
