//! Editing images with the energy: inpainting (Langevin on the masked pixels only) and
//! denoising (a short Langevin chain from the noisy image). Works on bytes, as the site and
//! `debm` hold images, and gives back the kept pixels byte for byte.

use burn::prelude::*;
use burn::tensor::{Bool, Distribution, TensorData};

use crate::data::dataset::{images_to_tensor, tensor_values_to_images};
use crate::inference::{ReadError, SampleError, class_labels, energies, noise_where_free, refine};
use crate::model::EnergyNet;
use crate::sampler::{ChainOptions, LangevinParams};

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
    params: &LangevinParams,
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
    let start = noise_where_free(original, &mask);
    let labels = class_labels(model, class, n, device)?;
    let out = refine(model, start.clone(), params, ChainOptions { free: Some(mask), labels, record_every: None }).await?;
    let before_values = crate::inference::read_values(start.clone()).await?;
    let before = tensor_values_to_images(&before_values, channels, side, side);
    let mut after = tensor_values_to_images(&out.samples, channels, side, side);
    // Kept pixels are the input's bytes exactly (the sampler keeps them bit-identical in floats;
    // copying the bytes makes that independent of rounding).
    for (edited, input) in after.iter_mut().zip(images) {
        for (p, _) in free.iter().enumerate().filter(|(_, f)| !**f) {
            edited[p * channels..(p + 1) * channels].copy_from_slice(&input[p * channels..(p + 1) * channels]);
        }
    }
    let energy_before = energies(model, start, 256).await?;
    let energy_after = energies(model, to_tensor(&after, channels, side, device), 256).await?;
    Ok(Edited { before, after, energy_before, energy_after })
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
/// towards what the model finds likely.
pub async fn denoise(
    model: &EnergyNet,
    images: &[Vec<u8>],
    channels: usize,
    side: usize,
    params: &LangevinParams,
    class: Option<usize>,
    device: &Device,
) -> Result<Edited, EditError> {
    check_images(images, channels, side)?;
    let start = to_tensor(images, channels, side, device);
    let labels = class_labels(model, class, images.len(), device)?;
    let out = refine(model, start.clone(), params, ChainOptions { labels, ..Default::default() }).await?;
    let after = tensor_values_to_images(&out.samples, channels, side, side);
    let energy_before = energies(model, start, 256).await?;
    let energy_after = energies(model, to_tensor(&after, channels, side, device), 256).await?;
    Ok(Edited { before: images.to_vec(), after, energy_before, energy_after })
}
