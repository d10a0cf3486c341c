//! Persistent chains: the replay buffer a run leaves behind, kept in its checkpoint and shipped
//! beside the weights, and sampling that *continues* those chains for a few dozen Langevin
//! steps (the IGEBM / JEM practice) instead of starting from noise.
//!
//! In a weights or checkpoint file the chains are the `buffer` section (u64 LE ring position of
//! the oldest entry, then one byte per value, NCHW, (v + 1)·127.5), for a class-conditional
//! model `buffer_labels` (one byte per chain: the label it was sampled under), and
//! `buffer_ages` (u32 LE per chain: Langevin steps since it started from noise; files written
//! before ages were kept have none, and their chains count as age 0).
//!
//! Like any MCMC, a chain is only a sample of the model after its burn-in: the 5 % of chains
//! restarted from noise every iteration are noise for their first few hundred steps. Sampling
//! continues chains past [`BURN_IN_STEPS`] when the snapshot has any.

use burn::prelude::*;
use burn::tensor::{Int, TensorData};
use rand::{Rng, RngExt};

use crate::EbmConfig;
use crate::buffer::ReplayBuffer;
use crate::inference::{Generated, ReadError, SampleError, check_class, read_values, refine};
use crate::model::EnergyNet;
use crate::sampler::{ChainOptions, Dynamics, LangevinParams};
use crate::weights::{WeightsError, WeightsFile, section};

/// Langevin steps a continued chain takes by default: enough to move every image under the
/// current weights, few enough to stay near the distribution training reached.
pub const DEFAULT_STEPS: usize = 40;

/// Steps a chain must have run since noise to be continued for samples (when the snapshot has
/// such chains): about ten training visits of 60 steps, by which the chains look like data.
pub const BURN_IN_STEPS: u32 = 600;

/// Chains kept with shipped weights and compact checkpoints: enough distinct starts for a
/// 2,048-image evaluation, 4.8 MB at 28×28×3.
pub const SNAPSHOT_CHAINS: usize = 2048;

/// The chains of a file, newest last.
#[derive(Clone, Debug, PartialEq)]
pub struct ChainSnapshot {
    /// [C, H, W] of one image.
    pub shape: [usize; 3],
    /// One byte per value, NCHW, oldest chain first.
    pub bytes: Vec<u8>,
    /// The label each chain was sampled under (all 0 for an unconditional model).
    pub labels: Vec<i32>,
    /// Langevin steps each chain has run since it started from noise (0 where unknown).
    pub ages: Vec<u32>,
}

/// Encodes one value in [-1, 1] as a byte.
pub fn quantise(v: f32) -> u8 {
    ((v.clamp(-1.0, 1.0) + 1.0) * 127.5).round() as u8
}

/// Decodes a byte back into [-1, 1].
pub fn dequantise(b: u8) -> f32 {
    b as f32 / 127.5 - 1.0
}

impl ChainSnapshot {
    /// The chains stored in `file`, or `None` when it holds none (plain weights).
    pub fn from_file(file: &WeightsFile) -> Result<Option<Self>, WeightsError> {
        let Some(bytes) = file.section(section::BUFFER) else { return Ok(None) };
        Self::decode(&file.header.config, bytes, file.section(section::BUFFER_LABELS), file.section(section::BUFFER_AGES)).map(Some)
    }

    fn decode(config: &EbmConfig, bytes: &[u8], labels: Option<&[u8]>, ages: Option<&[u8]>) -> Result<Self, WeightsError> {
        let shape = config.image_shape();
        let per_image: usize = shape.iter().product();
        if bytes.len() < 8 || !(bytes.len() - 8).is_multiple_of(per_image) {
            return Err(WeightsError::Damaged("the buffer section does not hold whole images".into()));
        }
        let n = (bytes.len() - 8) / per_image;
        let next = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")) as usize;
        let labels: Vec<i32> = match labels {
            Some(l) if l.len() == n => l.iter().map(|&b| b as i32).collect(),
            Some(_) => return Err(WeightsError::Damaged("the buffer's labels do not match its images".into())),
            None => vec![0; n],
        };
        if let Some(&bad) = labels.iter().find(|&&l| config.classes > 0 && l as usize >= config.classes) {
            return Err(WeightsError::Damaged(format!("the buffer holds label {bad}, outside the model's {} classes", config.classes)));
        }
        let ages: Vec<u32> = match ages {
            Some(a) if a.len() == 4 * n => a.chunks_exact(4).map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes"))).collect(),
            Some(_) => return Err(WeightsError::Damaged("the buffer's ages do not match its images".into())),
            None => vec![0; n],
        };
        Ok(Self::from_ring(shape, &bytes[8..], &labels, &ages, next))
    }

    /// The chains of a training run's replay buffer (read back from the device), oldest first;
    /// `None` while it is empty.
    pub async fn of_buffer(buffer: &ReplayBuffer) -> Result<Option<Self>, ReadError> {
        let Some(images) = buffer.contents() else { return Ok(None) };
        let [_, c, h, w] = images.dims();
        let bytes: Vec<u8> = read_values(images).await?.iter().map(|&v| quantise(v)).collect();
        Ok(Some(Self::from_ring([c, h, w], &bytes, buffer.labels(), buffer.ages(), buffer.next_slot())))
    }

    /// Chains as a replay buffer holds them: a ring whose oldest entry is at slot `next`.
    pub fn from_ring(shape: [usize; 3], bytes: &[u8], labels: &[i32], ages: &[u32], next: usize) -> Self {
        let per_image: usize = shape.iter().product();
        let n = bytes.len() / per_image;
        let order = (0..n).map(|k| (next + k) % n);
        Self {
            shape,
            bytes: order.clone().flat_map(|i| bytes[i * per_image..(i + 1) * per_image].iter().copied()).collect(),
            labels: order.clone().map(|i| labels.get(i).copied().unwrap_or(0)).collect(),
            ages: order.map(|i| ages.get(i).copied().unwrap_or(0)).collect(),
        }
    }

    /// The `buffer` and (for a conditional model) `buffer_labels` sections for these chains.
    pub fn sections(&self, conditional: bool) -> Vec<(String, Vec<u8>)> {
        // Oldest first, so the ring position of the oldest entry is 0.
        let mut buffer = 0u64.to_le_bytes().to_vec();
        buffer.extend_from_slice(&self.bytes);
        let mut sections = vec![(section::BUFFER.to_string(), buffer)];
        if conditional {
            // Labels are below MAX_CLASSES (256), so one byte each.
            sections.push((section::BUFFER_LABELS.into(), self.labels.iter().map(|&l| l as u8).collect()));
        }
        sections.push((section::BUFFER_AGES.into(), self.ages.iter().flat_map(|a| a.to_le_bytes()).collect()));
        sections
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    fn per_image(&self) -> usize {
        self.shape.iter().product()
    }

    /// Only the newest `n` chains.
    pub fn newest(&self, n: usize) -> Self {
        let skip = self.len().saturating_sub(n);
        Self {
            shape: self.shape,
            bytes: self.bytes[skip * self.per_image()..].to_vec(),
            labels: self.labels[skip..].to_vec(),
            ages: self.ages[skip..].to_vec(),
        }
    }

    /// The chains as values in [-1, 1] (NCHW), oldest first.
    pub fn values(&self) -> Vec<f32> {
        self.bytes.iter().map(|&b| dequantise(b)).collect()
    }

    /// `n` chains to continue: distinct ones while the snapshot has enough, drawn with
    /// replacement beyond that; chains of `class` when one is given and the snapshot has any;
    /// of those, the chains past their burn-in (`min_age` steps; usually [`BURN_IN_STEPS`]) when
    /// there are any.
    pub fn pick(&self, n: usize, class: Option<usize>, min_age: u32, rng: &mut impl Rng) -> Result<Vec<usize>, String> {
        let of_class: Vec<usize> = (0..self.len()).filter(|&i| class.is_some_and(|k| self.labels[i] as usize == k)).collect();
        let pool: Vec<usize> = if of_class.is_empty() { (0..self.len()).collect() } else { of_class };
        let burnt_in: Vec<usize> = pool.iter().copied().filter(|&i| self.ages[i] >= min_age).collect();
        let pool = if burnt_in.is_empty() { pool } else { burnt_in };
        if pool.is_empty() {
            return Err("there are no persistent chains".into());
        }
        if n <= pool.len() {
            // A partial Fisher–Yates shuffle: n distinct chains.
            let mut pool = pool;
            for i in 0..n {
                let j = rng.random_range(i..pool.len());
                pool.swap(i, j);
            }
            pool.truncate(n);
            Ok(pool)
        } else {
            Ok((0..n).map(|_| pool[rng.random_range(0..pool.len())]).collect())
        }
    }
}

/// `n` samples continued from the persistent chains `snapshot` for `params.steps` Langevin
/// steps under each chain's own label, or under `class` (whose chains are drawn when there are
/// any; other chains are steered to it otherwise); chains past `min_age` steps first.
pub async fn continue_chains(
    model: &EnergyNet,
    snapshot: &ChainSnapshot,
    n: usize,
    params: &LangevinParams,
    record_every: Option<usize>,
    class: Option<usize>,
    min_age: u32,
    rng: &mut impl Rng,
    device: &Device,
) -> Result<Generated, SampleError> {
    let class = check_class(model, class)?;
    let picks = snapshot.pick(n, class, min_age, rng).map_err(|_| SampleError::NoChains)?;
    let per = snapshot.per_image();
    let values: Vec<f32> = picks.iter().flat_map(|&i| snapshot.bytes[i * per..(i + 1) * per].iter().map(|&b| dequantise(b))).collect();
    let [c, h, w] = snapshot.shape;
    let start = Tensor::<4>::from_data(TensorData::new(values, [n, c, h, w]), device);
    let labels = (model.classes() > 0).then(|| {
        let l: Vec<i32> = picks.iter().map(|&i| class.map_or(snapshot.labels[i], |k| k as i32)).collect();
        Tensor::<1, Int>::from_data(TensorData::new(l, [n]), device)
    });
    Ok(refine(model, start, &Dynamics::Clamped(*params), ChainOptions { record_every, labels, ..Default::default() }).await?)
}
