//! A training run: the trainer, the data it learns from, where it started and when it
//! checkpoints — the one loop that `debm train`, the browser engine and the tests all drive,
//! one `next().await` at a time (as brush's training process is driven by its front ends).
//!
//! Every rule that decides whether a dataset can train a configuration, how a run's trainer is
//! built (fresh, from a model, from a checkpoint, from another run) and how a batch is drawn
//! lives here, once; which of those a front end's request means is the session's
//! ([`crate::session`]).

use std::sync::Arc;

use burn::module::Module;

use crate::checkpoint::{self, Contents};
use crate::data::{BatchSource, Dataset, Split};
use crate::denoising::DataStatistics;
use crate::model::{EnergyNet, WidenError};
use crate::persistent::ChainSnapshot;
use crate::trainer::{IterStats, TrainError, Trainer};
use crate::weights::{WeightsError, WeightsFile};
use crate::{Device, EbmConfig};

mod events;
mod live;

pub use events::{CheckpointReason, RunEvent, RunLoop};
pub use live::LiveSamples;

/// Why a run could not start or go on.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The data does not fit the configuration (image shape, labels).
    #[error("{0}")]
    Data(String),
    /// The live samples could not be drawn or read back.
    #[error("{0}")]
    Samples(String),
    #[error(transparent)]
    Train(#[from] TrainError),
    #[error(transparent)]
    Weights(#[from] WeightsError),
    /// The configuration is narrower than the model it continues.
    #[error(transparent)]
    Widen(#[from] WidenError),
}

/// Where a run's weights come from.
pub enum Origin<'a> {
    /// A new random net.
    Fresh,
    /// Continue this model (e.g. loaded weights) after `iteration` updates, with a new
    /// optimiser, and a replay buffer that starts from `chains` (else empty). A configuration
    /// with a larger `width` widens the model first.
    Model { model: Box<EnergyNet>, iteration: u64, chains: Option<ChainSnapshot> },
    /// Resume a checkpoint: its model, Adam state and replay buffer where it has them.
    Checkpoint(&'a WeightsFile),
    /// Carry on another run where it stands, in memory (a run set aside when the settings or the
    /// data changed): its weights, moving average, Adam state, replay buffer, drift level and
    /// iteration, under the new configuration (of the same architecture) and data.
    Run(&'a TrainingRun),
}

/// When a run writes checkpoints, which of them are kept as copies, and what they hold: one
/// rule for `debm train` and the browser (which used to write the cadence twice).
#[derive(Clone, Debug)]
pub struct CheckpointPolicy {
    /// A checkpoint every this many iterations (0: none on the way).
    pub every: u64,
    /// Mark a checkpoint to keep as a copy when it is at least this many iterations after the
    /// newest kept one (0: never). A long run then has states from before a slow drift, which
    /// the one rolling checkpoint has long overwritten.
    pub keep_every: u64,
    /// The iteration of the newest copy already kept (0: none), where `keep_every` counts from.
    pub kept_at: u64,
    /// A checkpoint when a loop ([`RunLoop`]) pauses or finishes, due or not.
    pub on_stop: bool,
    pub contents: Contents,
    pub note: String,
}

impl CheckpointPolicy {
    /// Every `every` iterations and when the loop stops, none kept.
    pub fn every(every: u64, contents: Contents, note: impl Into<String>) -> Self {
        Self { every, keep_every: 0, kept_at: 0, on_stop: true, contents, note: note.into() }
    }

    /// Whether a checkpoint at `iteration` is one to keep; if so it becomes the newest kept.
    fn keep(&mut self, iteration: u64) -> bool {
        let due = self.keep_every > 0 && iteration >= self.kept_at + self.keep_every;
        if due {
            self.kept_at = iteration;
        }
        due
    }
}

/// A checkpoint the run wrote: its file and whether the policy keeps a copy of it.
#[derive(Clone, Debug)]
pub struct Checkpoint {
    pub iteration: u64,
    pub bytes: Vec<u8>,
    pub keep: bool,
}

/// What one `next()` did: the iteration's statistics, and the checkpoint it was due to write.
pub struct Step {
    pub stats: IterStats,
    pub checkpoint: Option<Checkpoint>,
}

pub struct TrainingRun {
    trainer: Trainer,
    data: Arc<Dataset>,
    split: Split,
    source: BatchSource,
    checkpoints: Option<CheckpointPolicy>,
}

impl TrainingRun {
    /// Starts a run of `config` on the training split of `data` (train, else the largest).
    pub fn start(config: EbmConfig, origin: Origin<'_>, data: Arc<Dataset>, device: &Device) -> Result<Self, RunError> {
        check_data(&data, &config)?;
        let trainer = match origin {
            Origin::Fresh => {
                let mut t = Trainer::new(config, device).map_err(TrainError::from)?;
                // A new denoising net centres and scales by its training images' statistics.
                if t.config().is_denoising()
                    && let Some(images) = data.split(data.training_split())
                {
                    t.set_data_statistics(&DataStatistics::of_bytes(&images.pixels, images.channels));
                }
                t
            }
            Origin::Model { model, iteration, chains } => {
                // A configuration wider than the model widens it, keeping its energy (Net2WiderNet).
                let model = if config.width == model.width() { *model } else { model.widened(config.width, config.seed)? };
                let mut t = Trainer::with_model(config, device, model).map_err(TrainError::from)?;
                t.resume_from(iteration, None);
                if let Some(chains) = &chains {
                    checkpoint::seed_buffer(&mut t, chains)?;
                }
                t
            }
            Origin::Checkpoint(file) => checkpoint::restore(file, config, device)?,
            Origin::Run(previous) => carry_on(previous.trainer(), config, device)?,
        };
        Ok(Self::of(trainer, data))
    }

    fn of(mut trainer: Trainer, data: Arc<Dataset>) -> Self {
        let split = data.training_split();
        trainer.set_iters_per_epoch(data.rows(split).div_ceil(trainer.config().batch_size) as u64);
        let source = BatchSource::new(&data, split, &trainer.device(), BatchSource::DEFAULT_DEVICE_BYTES);
        Self { trainer, data, split, source, checkpoints: None }
    }

    /// Checkpoints are due every `policy.every` iterations (and never after a roll-back).
    pub fn with_checkpoints(mut self, policy: CheckpointPolicy) -> Self {
        self.set_checkpoints(Some(policy));
        self
    }

    /// Replaces the checkpoint policy (`None`: no checkpoints).
    pub fn set_checkpoints(&mut self, policy: Option<CheckpointPolicy>) {
        self.checkpoints = policy;
    }

    /// One CD iteration on a batch drawn from the training split, plus the checkpoint if one
    /// is due.
    pub async fn next(&mut self) -> Result<Step, RunError> {
        let device = self.trainer.device();
        let batch = self.trainer.config().batch_size;
        let (real, labels) = self.source.draw(&self.data, batch, self.trainer.rng(), &device);
        let labels = labels.filter(|_| self.trainer.config().is_conditional());
        let stats = self.trainer.step(real, labels.as_deref()).await?;
        let due = self.checkpoints.as_ref().is_some_and(|p| p.every > 0 && stats.iteration.is_multiple_of(p.every));
        let checkpoint = if due && !stats.rolled_back { self.policy_checkpoint().await? } else { None };
        Ok(Step { stats, checkpoint })
    }

    /// The checkpoint due when a loop stops (pause or end), if the policy writes one.
    pub async fn stop_checkpoint(&mut self) -> Result<Option<Checkpoint>, RunError> {
        if self.checkpoints.as_ref().is_some_and(|p| p.on_stop) { self.policy_checkpoint().await } else { Ok(None) }
    }

    /// A checkpoint by the policy (contents, note, keep), now.
    async fn policy_checkpoint(&mut self) -> Result<Option<Checkpoint>, RunError> {
        let iteration = self.trainer.iteration();
        let Some(policy) = self.checkpoints.as_mut() else { return Ok(None) };
        let bytes = checkpoint::save(&self.trainer, policy.contents, &policy.note).await?;
        Ok(Some(Checkpoint { iteration, bytes, keep: policy.keep(iteration) }))
    }

    /// The run's state as a checkpoint file, now.
    pub async fn checkpoint(&self, contents: Contents, note: &str) -> Result<Vec<u8>, WeightsError> {
        checkpoint::save(&self.trainer, contents, note).await
    }

    pub fn trainer(&self) -> &Trainer {
        &self.trainer
    }

    pub fn iteration(&self) -> u64 {
        self.trainer.iteration()
    }

    /// The split batches come from.
    pub fn split(&self) -> Split {
        self.split
    }

    /// Rows in the training split.
    pub fn rows(&self) -> usize {
        self.data.rows(self.split)
    }
}

/// A trainer that continues `previous` exactly: what a checkpoint would keep, without the round
/// trip through bytes (so Adam's state comes along in the browser too, and nothing is read back).
fn carry_on(previous: &Trainer, config: EbmConfig, device: &Device) -> Result<Trainer, TrainError> {
    // Without autodiff first: the trained parameters are no longer leaves of a graph, and the
    // new trainer makes them its own leaves again (ids kept, so Adam's state still fits them).
    let mut trainer = Trainer::with_model(config, device, previous.model().valid())?;
    if let Some(average) = previous.ema() {
        trainer.set_ema(average.clone());
    }
    trainer.resume_from(previous.iteration(), Some(previous.optimizer().clone()));
    if let Some(level) = previous.drift_level() {
        trainer.resume_drift_level(level);
    }
    let buffer = previous.buffer();
    if let Some(images) = buffer.contents() {
        trainer.buffer_mut().restore(images, buffer.labels(), buffer.ages(), buffer.next_slot());
    }
    Ok(trainer)
}

/// Whether `data` can train `config`: the same image shape, and labels that fit a
/// class-conditional model.
pub fn check_data(data: &Dataset, config: &EbmConfig) -> Result<(), RunError> {
    if (config.channels, config.image_size) != (data.channels, data.height) {
        return Err(RunError::Data(format!(
            "the loaded dataset has {}-channel {}×{} images; set channels={} and image_size={}",
            data.channels, data.height, data.width, data.channels, data.height
        )));
    }
    if config.classes == 0 {
        return Ok(());
    }
    let split = data.training_split();
    if !data.is_labelled(split) {
        return Err(RunError::Data(format!("class-conditional training needs labels, and the {} split has none", split.name())));
    }
    let needed = data.label_classes();
    if needed > config.classes {
        return Err(RunError::Data(format!("the data has labels up to {}; set classes to at least {needed}", needed - 1)));
    }
    Ok(())
}
