//! A linear probe: a classifier fitted apart from the energy, on the net's penultimate features
//! ([`EnergyNet::features`](super::EnergyNet::features)) of labelled training images.
//!
//! Why: a class-conditional EBM's own head (JEM: the class logits whose logsumexp is −E) is
//! trained by a weak cross-entropy term against the contrastive-divergence term, and on
//! DermaMNIST it never called anything but the majority class (weights/README.md, runs 14–16),
//! although its features carry class information (val cross-entropy 0.95 against the prior's
//! 1.13). Refitting that head would change the energy; a separate multinomial logistic
//! regression on the same features leaves the energy and sampling untouched and reads out what
//! the features know — the linear-probe evaluation of representation learning.
//!
//! The fit is convex (softmax cross-entropy with an L2 penalty on standardised features), solved
//! by Nesterov-accelerated gradient descent with the step from Böhning's bound on its Hessian,
//! so it needs no tuning and gives the same probe for the same features. A probe is valid only
//! for the net it was fitted on: it records a fingerprint of that net's bytes and a weights
//! file whose net changed (training, averaging) does not use it.

use serde::{Deserialize, Serialize};

/// The fitted classifier: p(y | x) = softmax(W · (h(x) − mean) / scale + b).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ClassProbe {
    pub classes: usize,
    /// Length of the feature vector h(x).
    pub features: usize,
    pub mean: Vec<f32>,
    pub scale: Vec<f32>,
    /// `classes` rows of `features` weights.
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
    /// The L2 penalty it was fitted with (on the standardised weights, per image).
    pub l2: f32,
    /// Images it was fitted on.
    pub fitted_on: usize,
    /// [`fingerprint`] of the net's bytes (the weights file's `model` section) it was fitted on.
    pub net_fingerprint: u64,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProbeError {
    #[error("cannot fit a probe: {0}")]
    Data(String),
    #[error("the probe section is damaged: {0}")]
    Damaged(String),
}

/// FNV-1a over `bytes`: enough to tell that a net's bytes changed since a probe was fitted.
pub fn fingerprint(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ b as u64).wrapping_mul(0x0100_0000_01b3))
}

/// Gradient steps of the fit (accelerated, so the error falls as 1/t²): on DermaMNIST's 7,007
/// images of 96 features, about 10 s on one core, once per shipped state.
pub const FIT_ITERATIONS: usize = 1500;

/// The default L2 penalty.
pub const DEFAULT_L2: f32 = 1e-3;

impl ClassProbe {
    /// Fits a probe on `features` (`labels.len()` rows of `width` values) to `labels` in
    /// 0..`classes`.
    pub fn fit(features: &[f32], width: usize, labels: &[u8], classes: usize, l2: f32, net_fingerprint: u64) -> Result<Self, ProbeError> {
        let n = labels.len();
        if n == 0 || width == 0 || features.len() != n * width {
            return Err(ProbeError::Data(format!("{} feature values for {n} labels of {width} features each", features.len())));
        }
        if classes < 2 {
            return Err(ProbeError::Data(format!("{classes} classes: a classifier needs at least 2")));
        }
        if let Some(&bad) = labels.iter().find(|&&y| y as usize >= classes) {
            return Err(ProbeError::Data(format!("label {bad} is not one of the {classes} classes")));
        }
        if !(l2.is_finite() && l2 >= 0.0) || features.iter().any(|v| !v.is_finite()) {
            return Err(ProbeError::Data("the features and the L2 penalty must be finite (and the penalty ≥ 0)".into()));
        }
        let (mean, scale) = standardisation(features, width);
        let x: Vec<f64> = features.chunks_exact(width).flat_map(|row| standardised(row, &mean, &scale)).collect();
        let step = 1.0 / (0.5 * (largest_eigenvalue(&x, width) + 1.0) + l2 as f64);
        // Parameters: `classes` rows of `width` weights and then the bias, as one vector.
        let len = classes * (width + 1);
        let (mut theta, mut previous) = (vec![0.0f64; len], vec![0.0f64; len]);
        for t in 1..=FIT_ITERATIONS {
            let momentum = (t as f64 - 1.0) / (t as f64 + 2.0);
            let look: Vec<f64> = theta.iter().zip(&previous).map(|(a, b)| a + momentum * (a - b)).collect();
            let grad = gradient(&look, &x, labels, width, classes, l2 as f64);
            previous = std::mem::replace(&mut theta, look.iter().zip(&grad).map(|(p, g)| p - step * g).collect());
        }
        let (weight, bias) = theta.split_at(classes * width);
        Ok(Self {
            classes,
            features: width,
            mean: mean.iter().map(|&v| v as f32).collect(),
            scale: scale.iter().map(|&v| v as f32).collect(),
            weight: weight.iter().map(|&v| v as f32).collect(),
            bias: bias.iter().map(|&v| v as f32).collect(),
            l2,
            fitted_on: n,
            net_fingerprint,
        })
    }

    /// p(y | x) for each row of `features` (rows of [`Self::features`] values).
    pub fn probabilities(&self, features: &[f32]) -> Vec<Vec<f32>> {
        let mean: Vec<f64> = self.mean.iter().map(|&v| v as f64).collect();
        let scale: Vec<f64> = self.scale.iter().map(|&v| v as f64).collect();
        let theta: Vec<f64> = self.weight.iter().chain(&self.bias).map(|&v| v as f64).collect();
        features
            .chunks_exact(self.features)
            .map(|row| {
                let x: Vec<f64> = standardised(row, &mean, &scale).collect();
                softmax(&logits(&theta, &x, self.features, self.classes)).into_iter().map(|p| p as f32).collect()
            })
            .collect()
    }

    /// The probe as the bytes of a weights file's `probe` section (JSON).
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a probe serialises")
    }

    /// A probe from its section bytes, checked for consistent sizes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ProbeError> {
        let probe: Self = serde_json::from_slice(bytes).map_err(|e| ProbeError::Damaged(e.to_string()))?;
        let (k, f) = (probe.classes, probe.features);
        let sizes_fit = probe.mean.len() == f && probe.scale.len() == f && probe.weight.len() == k * f && probe.bias.len() == k;
        if !sizes_fit || k < 2 || f == 0 {
            return Err(ProbeError::Damaged(format!("its arrays do not fit {k} classes of {f} features")));
        }
        if probe.scale.iter().any(|&s| !(s.is_finite() && s > 0.0)) || probe.weight.iter().chain(&probe.bias).any(|v| !v.is_finite()) {
            return Err(ProbeError::Damaged("non-finite or non-positive values".into()));
        }
        Ok(probe)
    }
}

/// Per-feature mean and standard deviation (1 where a feature is constant).
fn standardisation(features: &[f32], width: usize) -> (Vec<f64>, Vec<f64>) {
    let n = (features.len() / width) as f64;
    let mut mean = vec![0.0; width];
    for row in features.chunks_exact(width) {
        row.iter().zip(&mut mean).for_each(|(&v, m)| *m += v as f64 / n);
    }
    let mut var = vec![0.0; width];
    for row in features.chunks_exact(width) {
        row.iter().zip(&mean).zip(&mut var).for_each(|((&v, m), s)| *s += (v as f64 - m).powi(2) / n);
    }
    let scale = var.into_iter().map(|v| if v > 1e-12 { v.sqrt() } else { 1.0 }).collect();
    (mean, scale)
}

fn standardised<'a>(row: &'a [f32], mean: &'a [f64], scale: &'a [f64]) -> impl Iterator<Item = f64> + 'a {
    row.iter().zip(mean).zip(scale).map(|((&v, m), s)| (v as f64 - m) / s)
}

/// The largest eigenvalue of XᵀX / n (power iteration): the curvature scale of the fit.
fn largest_eigenvalue(x: &[f64], width: usize) -> f64 {
    let n = (x.len() / width) as f64;
    let mut v = vec![1.0 / (width as f64).sqrt(); width];
    let mut lambda = 0.0;
    for _ in 0..50 {
        let mut w = vec![0.0; width];
        for row in x.chunks_exact(width) {
            let dot: f64 = row.iter().zip(&v).map(|(a, b)| a * b).sum();
            row.iter().zip(&mut w).for_each(|(a, o)| *o += dot * a / n);
        }
        lambda = w.iter().map(|a| a * a).sum::<f64>().sqrt();
        if lambda == 0.0 {
            return 0.0;
        }
        v = w.into_iter().map(|a| a / lambda).collect();
    }
    lambda
}

fn logits(theta: &[f64], x: &[f64], width: usize, classes: usize) -> Vec<f64> {
    let (weight, bias) = theta.split_at(classes * width);
    weight.chunks_exact(width).zip(bias).map(|(w, b)| b + w.iter().zip(x).map(|(a, c)| a * c).sum::<f64>()).collect()
}

fn softmax(z: &[f64]) -> Vec<f64> {
    let max = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = z.iter().map(|v| (v - max).exp()).collect();
    let sum: f64 = e.iter().sum();
    e.into_iter().map(|v| v / sum).collect()
}

/// Gradient of the mean cross-entropy plus l2/2 · |W|² (the bias is not penalised).
fn gradient(theta: &[f64], x: &[f64], labels: &[u8], width: usize, classes: usize, l2: f64) -> Vec<f64> {
    let n = labels.len() as f64;
    let mut grad = vec![0.0; theta.len()];
    for (row, &y) in x.chunks_exact(width).zip(labels) {
        let mut p = softmax(&logits(theta, row, width, classes));
        p[y as usize] -= 1.0;
        for (k, &d) in p.iter().enumerate() {
            let d = d / n;
            grad[k * width..(k + 1) * width].iter_mut().zip(row).for_each(|(g, a)| *g += d * a);
            grad[classes * width + k] += d;
        }
    }
    grad[..classes * width].iter_mut().zip(theta).for_each(|(g, w)| *g += l2 * w);
    grad
}
