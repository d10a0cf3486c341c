//! Using a trained net: energies of images, and new samples from noise (with their chains).

use burn::prelude::*;

use crate::buffer::ReplayBuffer;
use crate::model::EnergyNet;
use crate::sampler::{FreeMask, LangevinParams, langevin};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("reading results back from the device failed: {0}")]
pub struct ReadError(pub String);

/// Reads a tensor's values (async, so it works on WebGPU).
pub async fn read_values<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>, ReadError> {
    let data = t.without_autodiff().into_data_async().await.map_err(|e| ReadError(format!("{e:?}")))?;
    data.try_to_vec::<f32>().map_err(|e| ReadError(format!("{e:?}")))
}

/// E(x) for each image of `images` ([N, C, H, W] in [-1, 1]), `chunk` images at a time.
pub async fn energies(model: &EnergyNet, images: Tensor<4>, chunk: usize) -> Result<Vec<f32>, ReadError> {
    let net = model.valid();
    let images = images.without_autodiff();
    let n = images.dims()[0];
    let mut out = Vec::with_capacity(n);
    let mut start = 0;
    while start < n {
        let len = chunk.max(1).min(n - start);
        out.extend(read_values(net.energy(images.clone().narrow(0, start, len))).await?);
        start += len;
    }
    Ok(out)
}

/// Samples and, when asked, the chain states, read back as flat [N, C, H, W] values.
pub struct Generated {
    pub samples: Vec<f32>,
    /// (steps taken, images at that point).
    pub chain: Vec<(usize, Vec<f32>)>,
}

/// `n` new images: uniform noise refined by Langevin dynamics.
pub async fn generate(
    model: &EnergyNet,
    n: usize,
    shape: [usize; 3],
    params: &LangevinParams,
    record_every: Option<usize>,
    device: &Device,
) -> Result<Generated, ReadError> {
    let start = ReplayBuffer::noise(n, shape, device);
    refine(model, start, params, record_every, None).await
}

/// Langevin from given images; with `free`, only those pixels change (inpainting).
pub async fn refine(
    model: &EnergyNet,
    start: Tensor<4>,
    params: &LangevinParams,
    record_every: Option<usize>,
    free: Option<&FreeMask>,
) -> Result<Generated, ReadError> {
    let (samples, frames) = langevin(model, start, params, record_every, free);
    let mut chain = Vec::with_capacity(frames.len());
    for frame in frames {
        chain.push((frame.step, read_values(frame.images).await?));
    }
    Ok(Generated { samples: read_values(samples).await?, chain })
}
