//! Editing images with the energy: inpainting (Langevin on the masked pixels only) and
//! denoising (a short Langevin chain from the noisy image). Works on bytes, as the site and
//! `debm` hold images, and gives back the kept pixels byte for byte.
//!
//! A recovery-likelihood model edits through its noise levels: inpainting walks every level from
//! noise with the known pixels re-noised to each level (the "replacement" method of diffusion
//! inpainting), and denoising starts at the level whose noise matches the image's.

use burn::prelude::*;
use burn::tensor::{Bool, Distribution, Int, TensorData};

use crate::data::dataset::{images_to_tensor, tensor_values_to_images};
use crate::inference::{ReadError, SampleError, class_labels, energies, noise_where_free, read_values, refine};
use crate::model::EnergyNet;
use crate::sampler::{ChainOptions, DenoisingWalk, Dynamics, FreeMask, RecoveryChains, Walk, final_step, fixed, langevin};

/// Ready-made masks: which pixels inpainting fills in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MaskPreset {
    /// The middle half of each side (a quarter of the image).
    CentreSquare,
    LeftHalf,
    RightHalf,
    TopHalf,
    BottomHalf,
}

impl MaskPreset {
    pub fn parse(name: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(name.to_string())).ok()
    }

    /// `side`×`side` flags, row-major: `true` = fill in.
    pub fn mask(self, side: usize) -> Vec<bool> {
        let (lo, hi) = (side / 4, side - side / 4);
        (0..side * side)
            .map(|i| {
                let (y, x) = (i / side, i % side);
                match self {
                    Self::CentreSquare => (lo..hi).contains(&y) && (lo..hi).contains(&x),
                    Self::LeftHalf => x < side / 2,
                    Self::RightHalf => x >= side / 2,
                    Self::TopHalf => y < side / 2,
                    Self::BottomHalf => y >= side / 2,
                }
            })
            .collect()
    }
}

/// Images before and after an edit (H×W×C bytes each) and their energies.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Edited {
    /// Where the chain started: the input with noise in the masked part (inpainting), or the
    /// noisy input (denoising).
    pub before: Vec<Vec<u8>>,
    pub after: Vec<Vec<u8>>,
    pub energy_before: Vec<f32>,
    pub energy_after: Vec<f32>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EditError {
    #[error("the mask has {got} pixels; it must have one per pixel ({expected})")]
    MaskSize { got: usize, expected: usize },
    #[error("the mask selects no pixel: nothing to fill in")]
    EmptyMask,
    #[error("image {index} has {got} bytes; a {side}×{side}×{channels} image has {expected}")]
    ImageSize { index: usize, got: usize, side: usize, channels: usize, expected: usize },
    #[error("no images given")]
    NoImages,
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error(transparent)]
    Sample(#[from] SampleError),
}

fn check_images(images: &[Vec<u8>], channels: usize, side: usize) -> Result<(), EditError> {
    if images.is_empty() {
        return Err(EditError::NoImages);
    }
    let expected = side * side * channels;
    match images.iter().position(|img| img.len() != expected) {
        Some(index) => Err(EditError::ImageSize { index, got: images[index].len(), side, channels, expected }),
        None => Ok(()),
    }
}

fn to_tensor(images: &[Vec<u8>], channels: usize, side: usize, device: &Device) -> Tensor<4> {
    let rows: Vec<&[u8]> = images.iter().map(|i| i.as_slice()).collect();
    images_to_tensor(&rows, channels, side, side, device)
}

/// Fills the pixels where `free` (side×side, row-major) is true with Langevin samples under the
/// model (conditioned on `class` for a class-conditional net), starting from uniform noise
/// there. Every other pixel of `after` is the input's byte.
pub async fn inpaint(
    model: &EnergyNet,
    images: &[Vec<u8>],
    channels: usize,
    side: usize,
    free: &[bool],
    dynamics: &Dynamics,
    class: Option<usize>,
    device: &Device,
) -> Result<Edited, EditError> {
    check_images(images, channels, side)?;
    if free.len() != side * side {
        return Err(EditError::MaskSize { got: free.len(), expected: side * side });
    }
    if !free.iter().any(|&f| f) {
        return Err(EditError::EmptyMask);
    }
    let n = images.len();
    let original = to_tensor(images, channels, side, device);
    let mask = Tensor::<4, Bool>::from_data(TensorData::new(free.to_vec(), [1, 1, side, side]), device).expand([n, channels, side, side]);
    let labels = class_labels(model, class, n, device)?;
    let (start, samples) = match dynamics {
        Dynamics::Recovery(chains) => {
            let start = original.clone().mask_where(mask.clone(), Tensor::random(original.shape(), Distribution::Normal(0.0, 1.0), device));
            (start, inpaint_by_levels(model, original, &mask, chains, labels).await?)
        }
        Dynamics::Denoising(walk) => inpaint_by_walk(model, original, &mask, walk, labels).await?,
        Dynamics::Clamped(_) => {
            let start = noise_where_free(original, &mask);
            let out = refine(model, start.clone(), dynamics, ChainOptions { free: Some(mask), labels, ..Default::default() }).await?;
            (start, out.samples)
        }
    };
    let before_values = read_values(start.clone().clamp(-1.0, 1.0)).await?;
    let before = tensor_values_to_images(&before_values, channels, side, side);
    // Kept pixels are the input's bytes exactly: the contrastive chain never moves them (bit for
    // bit in floats, and a byte survives the float round trip), the recovery walk puts them back.
    let after = tensor_values_to_images(&samples, channels, side, side);
    let energy_before = energies(model, start, 256).await?;
    let energy_after = energies(model, to_tensor(&after, channels, side, device), 256).await?;
    Ok(Edited { before, after, energy_before, energy_after })
}

/// The denoising walk from N(μ, σ₀²) on the free pixels, level by level, with the kept pixels
/// set before each level to the known image noised to that level (and to the known image
/// itself at the end), so the energy of every level sees the known part as a noisy image of
/// that level would show it; under `labels`' classes (and the walk's guidance) when given.
/// Returns the start and the final values, clipped.
async fn inpaint_by_walk(
    model: &EnergyNet,
    known: Tensor<4>,
    free: &FreeMask,
    walk: &DenoisingWalk,
    labels: Option<Tensor<1, Int>>,
) -> Result<(Tensor<4>, Vec<f32>), EditError> {
    let net = model.residual().ok_or(SampleError::NoWalk)?;
    let device = known.device();
    let noise = || Tensor::random(known.shape(), Distribution::Normal(0.0, 1.0), &device);
    let start = walk.start(net, noise());
    let mut x = start.clone();
    let options = ChainOptions { free: Some(free.clone()), labels, ..Default::default() };
    for index in 0..walk.levels() {
        let known_here = known.clone() + noise() * walk.sigmas[index] as f32;
        x = known_here.mask_where(free.clone(), x);
        x = langevin(model, x, &Dynamics::Denoising(walk.level(index)), &options).await.0;
    }
    let end = known.clone().mask_where(free.clone(), x);
    // What the "before" picture shows: the known image with noise where it is filled in.
    Ok((known.mask_where(free.clone(), start), read_values(end.clamp(-1.0, 1.0)).await?))
}

/// The recovery walk from N(0, I) on the free pixels, with the kept pixels set at each level t to
/// the known image noised to that level and scaled as the level's input (a_{t+1}·x_t), so the
/// energy of every level sees the known part as it would in a real noisy image (under `labels`'
/// classes for a class-conditional net). Returns the
/// final values, clipped.
async fn inpaint_by_levels(
    model: &EnergyNet,
    known: Tensor<4>,
    free: &FreeMask,
    chains: &RecoveryChains,
    labels: Option<Tensor<1, Int>>,
) -> Result<Vec<f32>, ReadError> {
    let model = &fixed(model);
    let s = &chains.schedule;
    let device = known.device();
    let n = known.dims()[0];
    let top = match chains.walk {
        Walk::Down { top } => top,
        Walk::OneLevel => s.levels() - 1,
    };
    let mut x = Tensor::random(known.shape(), Distribution::Normal(0.0, 1.0), &device);
    for level in (0..=top).rev() {
        let noise = Tensor::random(known.shape(), Distribution::Normal(0.0, 1.0), &device);
        let known_at_level = (known.clone() * s.a_cum[level] + noise * s.sigma_cum[level]) * s.input_scale(level);
        // Free pixels carry on from the level above (x_{t+1}); kept ones are the known image's.
        x = known_at_level.mask_where(free.clone(), x);
        let one_level = RecoveryChains { walk: Walk::OneLevel, ..chains.clone() };
        let options =
            ChainOptions { free: Some(free.clone()), labels: labels.clone(), levels: Some(vec![level as u32; n]), ..Default::default() };
        x = langevin(model, x, &Dynamics::Recovery(one_level), &options).await.0;
    }
    let x = final_step(model, x, chains, Some(free)).await;
    // The known pixels, which rode along noised to each level, are the input's again.
    read_values(known.mask_where(free.clone(), x.clamp(-1.0, 1.0))).await
}

/// Adds Gaussian noise of standard deviation `sigma` (in the [-1, 1] scale) to images, clamped:
/// a noisy input to try denoising on.
pub async fn add_noise(images: &[Vec<u8>], channels: usize, side: usize, sigma: f64, device: &Device) -> Result<Vec<Vec<u8>>, EditError> {
    check_images(images, channels, side)?;
    let x = to_tensor(images, channels, side, device);
    let noisy = (x.clone() + Tensor::random(x.shape(), Distribution::Normal(0.0, sigma.max(0.0)), device)).clamp(-1.0, 1.0);
    Ok(tensor_values_to_images(&crate::inference::read_values(noisy).await?, channels, side, side))
}

/// Runs a short Langevin chain from each (noisy) image: it moves the image down the energy,
/// towards what the model finds likely. A recovery model starts at the level whose noise
/// matches `noise_std` (the noise's standard deviation on the [-1, 1] scale; `None`: level 0)
/// and walks down from there.
pub async fn denoise(
    model: &EnergyNet,
    images: &[Vec<u8>],
    channels: usize,
    side: usize,
    dynamics: &Dynamics,
    noise_std: Option<f64>,
    class: Option<usize>,
    device: &Device,
) -> Result<Edited, EditError> {
    check_images(images, channels, side)?;
    let start = to_tensor(images, channels, side, device);
    let labels = class_labels(model, class, images.len(), device)?;
    let (chain_start, dynamics) = match dynamics {
        Dynamics::Recovery(chains) => {
            // A noisy image y = x + σε is x_t/ā_t at the level t where σ̄_t/ā_t = σ: the walk
            // takes ā_t·y as x_t and goes down from the level below (from level 0 when t = 0).
            let level = chains.schedule.level_for_noise(noise_std.unwrap_or(0.0) as f32);
            let scaled = start.clone() * chains.schedule.a_cum[level];
            (scaled, Dynamics::Recovery(RecoveryChains { walk: Walk::Down { top: level.saturating_sub(1) }, ..chains.clone() }))
        }
        // The noisy image is the walk's state at σ = noise_std: the walk goes on from there.
        Dynamics::Denoising(walk) => (start.clone(), Dynamics::Denoising(walk.from_noise(noise_std.unwrap_or(0.0)))),
        Dynamics::Clamped(_) => (start.clone(), dynamics.clone()),
    };
    let out = refine(model, chain_start, &dynamics, ChainOptions { labels, ..Default::default() }).await?;
    let after = tensor_values_to_images(&out.samples, channels, side, side);
    let energy_before = energies(model, start, 256).await?;
    let energy_after = energies(model, to_tensor(&after, channels, side, device), 256).await?;
    Ok(Edited { before: images.to_vec(), after, energy_before, energy_after })
}
