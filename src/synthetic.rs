//! A small image distribution with known structure, for tests, demos and benchmarks: a few
//! fixed patterns plus a little noise. Trivially told apart from uniform noise by a trained EBM.

use burn::prelude::*;
use burn::tensor::TensorData;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

/// Pattern `k` (of 4) at pixel (y, x): stripes, checks and a centred disc, in ±0.8.
fn pattern(k: usize, y: usize, x: usize, size: usize) -> f32 {
    let on = match k % 4 {
        0 => (y / 2).is_multiple_of(2),
        1 => (x / 2).is_multiple_of(2),
        2 => (x / 3 + y / 3).is_multiple_of(2),
        _ => {
            let c = size as f32 / 2.0 - 0.5;
            let (dy, dx) = (y as f32 - c, x as f32 - c);
            dy * dy + dx * dx < (size as f32 / 3.0).powi(2)
        }
    };
    if on { 0.8 } else { -0.8 }
}

/// How many distinct patterns (classes) there are.
pub const PATTERNS: usize = 4;

/// `n` images of shape [channels, size, size]: random patterns (uniformly chosen) plus
/// Gaussian-ish noise of ±`noise`, clamped to [-1, 1]. Returns flat NCHW values.
pub fn pattern_values(n: usize, channels: usize, size: usize, noise: f32, seed: u64) -> Vec<f32> {
    labelled_pattern_values(n, channels, size, noise, seed).0
}

/// Like [`pattern_values`], with each image's pattern index as its class label.
pub fn labelled_pattern_values(n: usize, channels: usize, size: usize, noise: f32, seed: u64) -> (Vec<f32>, Vec<i32>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut out = Vec::with_capacity(n * channels * size * size);
    let mut labels = Vec::with_capacity(n);
    for _ in 0..n {
        let k = rng.random_range(0..PATTERNS);
        labels.push(k as i32);
        for c in 0..channels {
            for y in 0..size {
                for x in 0..size {
                    // Colour channels get slightly different gains so RGB images are not gray.
                    let gain = 1.0 - 0.15 * c as f32;
                    let jitter = (rng.random::<f32>() - 0.5) * 2.0 * noise;
                    out.push((pattern(k, y, x, size) * gain + jitter).clamp(-1.0, 1.0));
                }
            }
        }
    }
    (out, labels)
}

/// The pattern a (noisy) image is closest to, by squared distance to the clean patterns: the
/// simple check that tells which class a generated image shows.
pub fn nearest_pattern(image: &[f32], channels: usize, size: usize) -> usize {
    let distance = |k: usize| -> f32 {
        let mut d = 0.0;
        for c in 0..channels {
            let gain = 1.0 - 0.15 * c as f32;
            for y in 0..size {
                for x in 0..size {
                    let v = image[(c * size + y) * size + x] - pattern(k, y, x, size) * gain;
                    d += v * v;
                }
            }
        }
        d
    };
    (0..PATTERNS).min_by(|&a, &b| distance(a).total_cmp(&distance(b))).unwrap_or(0)
}

pub fn patterns(n: usize, channels: usize, size: usize, noise: f32, seed: u64, device: &Device) -> Tensor<4> {
    Tensor::from_data(TensorData::new(pattern_values(n, channels, size, noise, seed), [n, channels, size, size]), device)
}
