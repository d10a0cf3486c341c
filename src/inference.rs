//! Using a trained net: energies of images, new samples from noise (with their chains),
//! inpainting and denoising, and — for a class-conditional net — classification.

use std::future::Future;
use std::ops::ControlFlow;
use std::pin::Pin;

use burn::prelude::*;
use burn::tensor::{Int, TensorData};

use crate::buffer::ReplayBuffer;
use crate::data::{Dataset, Split};
use crate::model::{ClassProbe, EnergyNet, ProbeError};
use crate::sampler::{
    ChainOptions, DenoisingWalk, Dynamics, FreeMask, RecoveryChains, Walk, final_step, fixed, langevin, walk_evaluations_to,
};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("reading results back from the device failed: {0}")]
pub struct ReadError(pub String);

/// Why images could not be sampled.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SampleError {
    #[error("class {class} does not exist: the model has classes 0–{last}")]
    NoSuchClass { class: usize, last: usize },
    #[error("this model is not class-conditional; sample without a class")]
    NotConditional,
    #[error("there are no persistent chains to continue: sample from noise")]
    NoChains,
    #[error("this model has no denoising walk: it was not trained by the denoising recipe")]
    NoWalk,
    /// The observer of a walk asked it to stop (a page's first look giving way to the visitor).
    #[error("the walk was stopped before its last level")]
    Stopped,
    #[error(transparent)]
    Read(#[from] ReadError),
}

/// Why images could not be classified.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ClassifyError {
    #[error("this model is not class-conditional and carries no linear probe: it has no classifier")]
    NoClassifier,
    #[error(transparent)]
    Read(#[from] ReadError),
}

/// What classifies images: the linear probe stored with the net (the measured one, preferred)
/// or a class-conditional net's own head. The one rule, for the site and `debm eval`.
#[derive(serde::Serialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Classifier {
    Probe,
    Head,
}

impl Classifier {
    /// The classifier of a net with `classes` head classes (0: unconditional) and `probe`, if any.
    pub fn of(classes: usize, probe: Option<&ClassProbe>) -> Option<Classifier> {
        match (probe, classes) {
            (Some(_), _) => Some(Classifier::Probe),
            (None, 0) => None,
            (None, _) => Some(Classifier::Head),
        }
    }
}

/// The one rule for sampling under a class: `None` (any class) stays `None`; a class is refused
/// by an unconditional net (it has none) and by a conditional net that lacks it. Returns the
/// class to condition on.
pub fn check_class(model: &EnergyNet, class: Option<usize>) -> Result<Option<usize>, SampleError> {
    check_class_of(model.classes(), class)
}

/// [`check_class`] for a model of `classes` classes (0 = unconditional), before it is loaded.
pub fn check_class_of(classes: usize, class: Option<usize>) -> Result<Option<usize>, SampleError> {
    match class {
        Some(_) if classes == 0 => Err(SampleError::NotConditional),
        Some(k) if k >= classes => Err(SampleError::NoSuchClass { class: k, last: classes - 1 }),
        other => Ok(other),
    }
}

/// One label per image for sampling under `class` ([`check_class`]'s rule).
pub fn class_labels(model: &EnergyNet, class: Option<usize>, n: usize, device: &Device) -> Result<Option<Tensor<1, Int>>, SampleError> {
    Ok(check_class(model, class)?.map(|k| Tensor::<1, Int>::from_data(TensorData::new(vec![k as i32; n], [n]), device)))
}

/// Reads a tensor's values (async, so it works on WebGPU).
pub async fn read_values<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>, ReadError> {
    let data = t.without_autodiff().into_data_async().await.map_err(|e| ReadError(format!("{e:?}")))?;
    data.try_to_vec::<f32>().map_err(|e| ReadError(format!("{e:?}")))
}

/// Runs `per_chunk` on consecutive pieces of at most `chunk` images and concatenates the values.
async fn in_chunks(images: Tensor<4>, chunk: usize, per_chunk: impl Fn(Tensor<4>) -> Tensor<2>) -> Result<Vec<f32>, ReadError> {
    let images = images.without_autodiff();
    let n = images.dims()[0];
    let mut out = Vec::new();
    let mut start = 0;
    while start < n {
        let len = chunk.max(1).min(n - start);
        out.extend(read_values(per_chunk(images.clone().narrow(0, start, len))).await?);
        start += len;
    }
    Ok(out)
}

/// E(x) for each image of `images` ([N, C, H, W] in [-1, 1]), `chunk` images at a time.
pub async fn energies(model: &EnergyNet, images: Tensor<4>, chunk: usize) -> Result<Vec<f32>, ReadError> {
    let net = model.valid();
    in_chunks(images, chunk, |x| net.energy(x).unsqueeze_dim(1)).await
}

/// The net's penultimate features ([`EnergyNet::features`]) of each image, flattened row by row.
pub async fn features(model: &EnergyNet, images: Tensor<4>, chunk: usize) -> Result<Vec<f32>, ReadError> {
    let net = model.valid();
    in_chunks(images, chunk, |x| net.features(x)).await
}

/// p(y | x): one row of class probabilities per image, from `probe` when given (a linear probe
/// fitted on this net's features), else from the class-conditional net's own head.
pub async fn class_probabilities(
    model: &EnergyNet,
    probe: Option<&ClassProbe>,
    images: Tensor<4>,
    chunk: usize,
) -> Result<Vec<Vec<f32>>, ClassifyError> {
    if let Some(probe) = probe {
        return Ok(probe.probabilities(&features(model, images, chunk).await?));
    }
    let classes = model.head_classes();
    if classes == 0 {
        return Err(ClassifyError::NoClassifier);
    }
    let net = model.valid();
    let flat = in_chunks(images, chunk, |x| net.class_log_probs(x).exp()).await?;
    Ok(flat.chunks_exact(classes).map(|row| row.to_vec()).collect())
}

/// Why a probe could not be fitted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FitProbeError {
    #[error(transparent)]
    Probe(#[from] ProbeError),
    #[error(transparent)]
    Read(#[from] ReadError),
}

/// Fits a [`ClassProbe`] on `model`'s features of every labelled image of `split`, over the
/// dataset's classes (or the model's, when it has more). `net_fingerprint` names the net's bytes
/// ([`crate::model::probe::fingerprint`]), so that the probe is only ever used with this net.
pub async fn fit_probe(
    model: &EnergyNet,
    dataset: &Dataset,
    split: Split,
    l2: f32,
    net_fingerprint: u64,
    device: &Device,
) -> Result<ClassProbe, FitProbeError> {
    let labels = dataset
        .split(split)
        .and_then(|s| s.labels.clone())
        .ok_or_else(|| ProbeError::Data(format!("the {} split has no labels", split.name())))?;
    // The head reads the features: its weight is [features, outputs].
    let width = model.head().weight.dims()[0];
    let mut values = Vec::with_capacity(labels.len() * width);
    for start in (0..labels.len()).step_by(PROBE_CHUNK) {
        let rows: Vec<usize> = (start..labels.len().min(start + PROBE_CHUNK)).collect();
        values.extend(features(model, dataset.batch(split, &rows, device), PROBE_CHUNK).await?);
    }
    let classes = dataset.label_classes().max(model.classes());
    Ok(ClassProbe::fit(&values, width, &labels, classes, l2, net_fingerprint)?)
}

/// Images per batch read for a probe's features (bounds the device memory of a large split).
const PROBE_CHUNK: usize = 512;

/// Index of the largest value of each row.
pub fn argmax_rows(rows: &[Vec<f32>]) -> Vec<usize> {
    rows.iter().map(|r| r.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map_or(0, |(i, _)| i)).collect()
}

/// Samples and, when asked, the chain states, read back as flat [N, C, H, W] values.
#[derive(Debug, Clone)]
pub struct Generated {
    pub samples: Vec<f32>,
    /// The recorded states, from the start to the samples.
    pub chain: Vec<Frame>,
}

/// One recorded state of every chain, read back.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    /// Langevin steps taken to reach it.
    pub step: usize,
    /// The noise level of the images (a recovery walk: T at the start, then each level
    /// reached down to 0); `None` for the contrastive recipe.
    pub level: Option<usize>,
    /// [N, C, H, W] values (not clipped: a recovery walk's noisy states go beyond [-1, 1]).
    pub values: Vec<f32>,
}

/// What an observer answers for each frame of a walk: go on, or stop there. A future, so that
/// the observer can let its event loop run first (a page hears of the visitor's click there).
pub type Answer = Pin<Box<dyn Future<Output = ControlFlow<()>>>>;

/// The answer of an observer that only watches.
pub fn go_on() -> Answer {
    Box::pin(std::future::ready(ControlFlow::Continue(())))
}

/// `n` new images from noise, under `class` when given (a class-conditional net samples
/// E(x, y); see [`check_class`]): uniform noise refined by Langevin dynamics (the contrastive
/// recipe), or N(0, I) walked down the noise levels (recovery), clipped to [-1, 1].
pub async fn generate(
    model: &EnergyNet,
    n: usize,
    shape: [usize; 3],
    dynamics: &Dynamics,
    record_every: Option<usize>,
    class: Option<usize>,
    device: &Device,
) -> Result<Generated, SampleError> {
    generate_observed(model, n, shape, dynamics, record_every, class, device, &mut |_| go_on()).await
}

/// [`generate`], handing `observe` each level of a walk as soon as it is reached (the start,
/// then levels T−1 … 0), so a page can draw the walk while it runs; a contrastive chain is
/// observed once, at its end. `observe` answering [`ControlFlow::Break`] stops a walk at that
/// level ([`SampleError::Stopped`]): a first look that gives way to what the visitor asks for.
pub async fn generate_observed(
    model: &EnergyNet,
    n: usize,
    shape: [usize; 3],
    dynamics: &Dynamics,
    record_every: Option<usize>,
    class: Option<usize>,
    device: &Device,
    observe: &mut dyn FnMut(&Frame) -> Answer,
) -> Result<Generated, SampleError> {
    let labels = class_labels(model, class, n, device)?;
    let [c, h, w] = shape;
    if let Dynamics::Denoising(walk) = dynamics {
        return walk_observed(&model.valid(), walk, n, shape, labels, record_every, device, observe).await;
    }
    let chains = match dynamics {
        Dynamics::Recovery(chains @ RecoveryChains { walk: Walk::Down { .. }, .. }) => chains,
        _ => {
            let start = ReplayBuffer::noise(n, shape, device);
            let out = refine(model, start, dynamics, ChainOptions { record_every, labels, ..Default::default() }).await?;
            let steps = dynamics.total_steps();
            // Observed once, at the end: there is nothing left to stop.
            let _ = observe(&Frame { step: steps, level: None, values: out.samples.clone() }).await;
            return Ok(out);
        }
    };
    let Walk::Down { top } = chains.walk else { unreachable!("matched above") };
    let model = &fixed(model);
    let mut x = Tensor::random([n, c, h, w], burn::tensor::Distribution::Normal(0.0, 1.0), device);
    let mut chain = Vec::new();
    let mut keep = |frame: Frame, chain: &mut Vec<Frame>| {
        let answer = observe(&frame);
        if record_every.is_some() {
            chain.push(frame);
        }
        answer
    };
    if keep(Frame { step: 0, level: Some(top + 1), values: read_values(x.clone()).await? }, &mut chain).await.is_break() {
        return Err(SampleError::Stopped);
    }
    // One level at a time (the chains of a level are one run, on the pool when there is one),
    // so each level can be shown as soon as it is done.
    let one_level = Dynamics::Recovery(RecoveryChains { walk: Walk::OneLevel, ..chains.clone() });
    for (i, level) in (0..=top).rev().enumerate() {
        let options = ChainOptions { labels: labels.clone(), levels: Some(vec![level as u32; n]), ..Default::default() };
        x = langevin(model, x, &one_level, &options).await.0;
        if level == 0 {
            x = final_step(model, x, chains, None).await;
        }
        let values = read_values(if level == 0 { x.clone().clamp(-1.0, 1.0) } else { x.clone() }).await?;
        if keep(Frame { step: (i + 1) * chains.steps, level: Some(level), values }, &mut chain).await.is_break() {
            return Err(SampleError::Stopped);
        }
    }
    Ok(Generated { samples: read_values(x.clamp(-1.0, 1.0)).await?, chain })
}

/// A denoising walk of `n` images from N(μ, σ_max²), level by level (each level one run of the
/// sampler, on the CPU's chain pool when there is one), each handed to `observe` (and kept when
/// `record_every` asks) as soon as it is reached: level L at the start, then L−1 … 0.
async fn walk_observed(
    model: &EnergyNet,
    walk: &DenoisingWalk,
    n: usize,
    [c, h, w]: [usize; 3],
    labels: Option<Tensor<1, Int>>,
    record_every: Option<usize>,
    device: &Device,
    observe: &mut dyn FnMut(&Frame) -> Answer,
) -> Result<Generated, SampleError> {
    let Some(net) = model.residual() else { return Err(SampleError::NoWalk) };
    let levels = walk.levels();
    let mut x = walk.start(net, Tensor::random([n, c, h, w], burn::tensor::Distribution::Normal(0.0, 1.0), device));
    let mut chain = Vec::new();
    let mut keep = |frame: Frame, chain: &mut Vec<Frame>| {
        let answer = observe(&frame);
        if record_every.is_some() {
            chain.push(frame);
        }
        answer
    };
    if keep(Frame { step: 0, level: Some(levels), values: read_values(x.clone()).await? }, &mut chain).await.is_break() {
        return Err(SampleError::Stopped);
    }
    let options = ChainOptions { labels, ..Default::default() };
    for index in 0..levels {
        x = langevin(model, x, &Dynamics::Denoising(walk.level(index)), &options).await.0;
        let level = levels - index - 1;
        let values = read_values(if level == 0 { x.clone().clamp(-1.0, 1.0) } else { x.clone() }).await?;
        if keep(Frame { step: walk_evaluations_to(index + 1, levels), level: Some(level), values }, &mut chain).await.is_break() {
            return Err(SampleError::Stopped);
        }
    }
    Ok(Generated { samples: read_values(x.clamp(-1.0, 1.0)).await?, chain })
}

/// Langevin from given images (inpainting with `options.free`, denoising without); the samples
/// are clipped to [-1, 1] (the recovery walk does not clip inside the chain).
pub async fn refine(model: &EnergyNet, start: Tensor<4>, dynamics: &Dynamics, options: ChainOptions) -> Result<Generated, ReadError> {
    let (samples, frames) = langevin(model, start, dynamics, &options).await;
    let mut chain = Vec::with_capacity(frames.len());
    for frame in frames {
        chain.push(Frame { step: frame.step, level: frame.level, values: read_values(frame.images).await? });
    }
    Ok(Generated { samples: read_values(samples.clamp(-1.0, 1.0)).await?, chain })
}

/// The start of an inpainting chain: `images` where kept, uniform noise where free.
pub fn noise_where_free(images: Tensor<4>, free: &FreeMask) -> Tensor<4> {
    let noise = Tensor::random(images.shape(), burn::tensor::Distribution::Uniform(-1.0, 1.0), &images.device());
    images.mask_where(free.clone(), noise)
}
