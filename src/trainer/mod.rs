//! Training of the energy net, one async iteration at a time, by either recipe: each gives the
//! iteration's loss terms (`contrastive.rs`, `recovery.rs`), and one update, one readback of the
//! statistics and one guard serve both. None of it reads back inside the Langevin loop.
//!
//! The last layer (the class logits of a conditional net) may learn at its own rate:
//! `head_lr_factor`, `head.rs`. The recovery and denoising recipes' samples use an exponential
//! moving average of the weights (`ema.rs`).

mod clip;
mod contrastive;
mod denoising;
mod ema;
mod guard;
mod head;
mod recovery;
mod stats;

use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use burn::tensor::Transaction;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

#[cfg(feature = "fault-injection")]
pub use guard::Fault;
use guard::{Drift, Snapshot};
pub use stats::IterStats;
use stats::Read;

use crate::buffer::ReplayBuffer;
use crate::config::{ConfigError, EbmConfig, Recipe};
use crate::model::{EnergyNet, NetShape};
use crate::platform::Instant;
use crate::recovery::NoiseSchedule;

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("the real batch has shape {got:?} but the model expects [N, {}, {}, {}]", expected[0], expected[1], expected[2])]
    BatchShape { got: Vec<usize>, expected: [usize; 3] },
    #[error("reading results back from the device failed: {0}")]
    Readback(String),
    #[error("class-conditional training needs one label per real image (got {got} labels for {images} images)")]
    Labels { got: usize, images: usize },
    #[error("label {label} is outside the model's {classes} classes")]
    LabelRange { label: i32, classes: usize },
    #[error(
        "training diverged {rollbacks} times in a row even after lowering the learning rate to {lr:.2e}; stopped (the last good weights are kept)"
    )]
    Diverged { rollbacks: usize, lr: f64 },
    #[error(
        "training drifted by iteration {iteration}: the energies of real images and samples moved apart (running mean of |E_real| + |E_fake|, or of |loss| for the recovery recipe: {level:.2}, above guard_drift_bound {bound}); stopped — continue from a checkpoint saved before the drift, with a lower learning rate (debm train --keep-every keeps such copies)"
    )]
    Drifted { iteration: u64, level: f64, bound: f64 },
}

pub struct Trainer {
    config: EbmConfig,
    device: Device,
    model: EnergyNet,
    optim: ModuleOptimizer,
    buffer: ReplayBuffer,
    rng: StdRng,
    iteration: u64,
    iters_per_epoch: u64,
    good: Snapshot,
    rollbacks_in_a_row: usize,
    rollbacks_total: u64,
    drift: Drift,
    /// The recovery recipe's noise schedule.
    schedule: Option<NoiseSchedule>,
    /// The recovery and denoising recipes' moving average of the weights (on the device without
    /// autodiff): what their samples and checkpoints' `model` use.
    ema: Option<EnergyNet>,
}

/// One iteration's loss and what it reports, as the recipe computed them (device tensors of
/// one value each, read back together).
struct Terms {
    loss: Tensor<1>,
    /// The contrastive term, or the recovery loss itself.
    cd: Tensor<1>,
    /// The energy regulariser (contrastive only).
    reg: Option<Tensor<1>>,
    /// Mean net output on the real images and on the negatives.
    real_out: Tensor<1>,
    fake_out: Tensor<1>,
    /// The classifier's cross-entropy and batch accuracy (class-conditional only).
    class: Option<(Tensor<1>, Tensor<1>)>,
    /// Negatives started from fresh noise.
    fresh: usize,
}

impl Trainer {
    /// A fresh model, optimiser and replay buffer on `device` (autodiff is enabled here).
    pub fn new(config: EbmConfig, device: &Device) -> Result<Self, ConfigError> {
        config.validate()?;
        let device = device.clone().autodiff();
        let mut rng = StdRng::seed_from_u64(config.seed);
        device.seed(rng.random());
        let model = EnergyNet::new(NetShape::from(&config), &device);
        Ok(Self::assemble(config, device, model, rng))
    }

    /// Continues training `model` (e.g. loaded weights) with a fresh optimiser and buffer.
    pub fn with_model(config: EbmConfig, device: &Device, model: EnergyNet) -> Result<Self, ConfigError> {
        config.validate()?;
        if model.classes() != config.classes {
            return Err(ConfigError {
                field: "classes",
                message: format!("the model has {} classes but the configuration says {}", model.classes(), config.classes),
            });
        }
        if model.width() != config.width {
            return Err(ConfigError {
                field: "width",
                message: format!("the model has width {} but the configuration says {}", model.width(), config.width),
            });
        }
        let device = device.clone().autodiff();
        let rng = StdRng::seed_from_u64(config.seed);
        let model = model.to_device(&device).train();
        Ok(Self::assemble(config, device, model, rng))
    }

    fn assemble(config: EbmConfig, device: Device, model: EnergyNet, rng: StdRng) -> Self {
        let adam = AdamConfig::new().with_beta_1(config.beta1 as f32).with_beta_2(config.beta2 as f32);
        // PyTorch's ε, as the denoising prototype trained with (burn's default is 1e-5).
        let optim = if config.is_denoising() { adam.with_epsilon(1e-8) } else { adam }.init();
        // Only the contrastive recipe keeps chains between iterations: a one-slot buffer stays empty.
        let capacity = if config.recipe == Recipe::Contrastive { config.buffer_size } else { 1 };
        let buffer = ReplayBuffer::with_update(
            capacity,
            config.image_shape(),
            config.fresh_fraction,
            config.chains_in_place,
            &device.clone().inner(),
        );
        let good = Snapshot { model: model.clone(), optim: optim.clone(), iteration: 0 };
        let schedule = config.is_recovery().then(|| NoiseSchedule::new(config.recovery.levels, config.recovery.step_factor));
        let ema = config.uses_ema().then(|| model.valid());
        Self {
            config,
            device,
            model,
            optim,
            buffer,
            rng,
            iteration: 0,
            iters_per_epoch: 1,
            good,
            rollbacks_in_a_row: 0,
            rollbacks_total: 0,
            drift: Drift::default(),
            schedule,
            ema,
        }
    }

    /// How many iterations make an epoch (the learning rate decays once per epoch); usually
    /// ⌈training rows / batch size⌉.
    pub fn set_iters_per_epoch(&mut self, iters: u64) {
        self.iters_per_epoch = iters.max(1);
    }

    pub fn iters_per_epoch(&self) -> u64 {
        self.iters_per_epoch
    }

    pub fn config(&self) -> &EbmConfig {
        &self.config
    }

    pub fn iteration(&self) -> u64 {
        self.iteration
    }

    /// The net being trained.
    pub fn model(&self) -> &EnergyNet {
        &self.model
    }

    /// The net samples come from: the moving average of the weights for the recovery and
    /// denoising recipes, else the trained net itself.
    pub fn sampling_model(&self) -> &EnergyNet {
        self.ema.as_ref().unwrap_or(&self.model)
    }

    /// The moving average of the weights (recovery and denoising recipes).
    pub fn ema(&self) -> Option<&EnergyNet> {
        self.ema.as_ref()
    }

    /// Replaces the moving average (a resumed run's, from its checkpoint).
    pub fn set_ema(&mut self, ema: EnergyNet) {
        if self.config.uses_ema() {
            self.ema = Some(ema.to_device(&self.device()));
        }
    }

    /// Gives a new denoising run's net (and its moving average) the training images'
    /// statistics, which its preconditioning centres and scales by; any other net is left as it is.
    pub fn set_data_statistics(&mut self, stats: &crate::denoising::DataStatistics) {
        fn with(net: EnergyNet, stats: &crate::denoising::DataStatistics) -> EnergyNet {
            match net {
                EnergyNet::Residual(net) => EnergyNet::Residual(net.with_data_statistics(stats)),
                other => other,
            }
        }
        self.model = with(self.model.clone(), stats);
        self.ema = self.ema.take().map(|ema| with(ema, stats));
        self.keep_as_good();
    }

    pub fn buffer(&self) -> &ReplayBuffer {
        &self.buffer
    }

    pub fn buffer_mut(&mut self) -> &mut ReplayBuffer {
        &mut self.buffer
    }

    pub fn optimizer(&self) -> &ModuleOptimizer {
        &self.optim
    }

    /// The device training runs on, without autodiff (for data and sampling).
    pub fn device(&self) -> Device {
        self.device.clone().inner()
    }

    /// The trainer's random generator, for drawing batches in the same reproducible stream.
    pub fn rng(&mut self) -> &mut StdRng {
        &mut self.rng
    }

    /// Learning rate for the next iteration: lr · decay^epoch, rising linearly over the
    /// recovery recipe's warm-up.
    pub fn current_lr(&self) -> f64 {
        let warmup = self.config.warmup();
        let ramp = if warmup == 0 { 1.0 } else { ((self.iteration + 1) as f64 / warmup as f64).min(1.0) };
        ramp * self.config.lr * self.config.lr_decay.powi((self.iteration / self.iters_per_epoch) as i32)
    }

    /// Restores the position of a resumed run (iteration count and optimiser state).
    pub fn resume_from(&mut self, iteration: u64, optim: Option<ModuleOptimizer>) {
        self.iteration = iteration;
        if let Some(optim) = optim {
            self.optim = optim;
        }
        self.good = Snapshot { model: self.model.clone(), optim: self.optim.clone(), iteration };
        // Continue the random stream deterministically from the resumed position.
        self.rng = StdRng::seed_from_u64(self.config.seed ^ iteration.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    }

    /// Rollbacks so far (the divergence guard's log).
    pub fn rollbacks(&self) -> u64 {
        self.rollbacks_total
    }

    /// One training iteration on a batch of real images in [-1, 1], shape [N, C, H, W]; a
    /// class-conditional model needs `labels`, one per real image (an unconditional one ignores
    /// them).
    pub async fn step(&mut self, real: Tensor<4>, labels: Option<&[i32]>) -> Result<IterStats, TrainError> {
        let started = Instant::now();
        let real_labels = self.check_batch(&real, labels)?;
        self.device().seed(self.rng.random());
        let terms = match self.config.recipe {
            Recipe::Contrastive => self.contrastive_terms(real, real_labels).await,
            Recipe::Recovery => self.recovery_terms(real, real_labels).await,
            Recipe::Denoising => self.denoising_terms(real, real_labels).await,
        };
        let lr = self.current_lr();
        self.update(terms.loss.clone(), lr);
        self.iteration += 1;
        let mut stats = self.read_stats(terms, lr).await?;
        stats.seconds = started.elapsed().as_secs_f64();
        if guard::diverged(&self.config, &stats) {
            self.roll_back()?;
            stats.rolled_back = true;
            stats.iteration = self.iteration;
        } else {
            self.keep_as_good();
            self.update_ema();
            self.check_drift(&stats)?;
        }
        Ok(stats)
    }

    /// The batch's shape and, for a class-conditional model, its labels; returns the labels
    /// training uses.
    fn check_batch<'l>(&self, real: &Tensor<4>, labels: Option<&'l [i32]>) -> Result<Option<&'l [i32]>, TrainError> {
        let dims = real.dims();
        let expected = self.config.image_shape();
        if dims[1..] != expected[..] || dims[0] == 0 {
            return Err(TrainError::BatchShape { got: dims.to_vec(), expected });
        }
        let classes = self.config.classes;
        match (classes, labels) {
            (0, _) => Ok(None),
            (_, Some(l)) if l.len() == dims[0] => match l.iter().find(|&&y| y < 0 || y as usize >= classes) {
                Some(&bad) => Err(TrainError::LabelRange { label: bad, classes }),
                None => Ok(Some(l)),
            },
            (_, l) => Err(TrainError::Labels { got: l.map_or(0, |l| l.len()), images: dims[0] }),
        }
    }

    /// One Adam step on `loss` at `lr`: gradients clipped by global norm, the class head at its
    /// own rate when asked.
    fn update(&mut self, loss: Tensor<1>, lr: f64) {
        let mut grads = GradientsParams::from_grads(loss.backward(), &self.model);
        if self.config.grad_clip_norm > 0.0 {
            clip::clip_global_norm(&self.model, &mut grads, self.config.grad_clip_norm);
        }
        if self.config.head_classes() > 0 && self.config.head_lr_factor != 1.0 {
            let head_grads = head::take_head_grads(&self.model, &mut grads);
            self.model = self.optim.step(lr, self.model.clone(), grads);
            self.model = self.optim.step(lr * self.config.head_lr_factor, self.model.clone(), head_grads);
        } else {
            self.model = self.optim.step(lr, self.model.clone(), grads);
        }
    }

    /// The iteration's statistics, read back in one transaction, in the order of `Read`.
    async fn read_stats(&self, terms: Terms, lr: f64) -> Result<IterStats, TrainError> {
        let zero = || Tensor::<1>::zeros([1], &self.device());
        let (class_loss, correct) = terms.class.unwrap_or_else(|| (zero(), zero()));
        let read = Transaction::default()
            .register(terms.loss.without_autodiff())
            .register(terms.cd.without_autodiff())
            .register(terms.reg.unwrap_or_else(zero).without_autodiff())
            .register(terms.real_out.without_autodiff())
            .register(terms.fake_out.without_autodiff())
            .register(class_loss.without_autodiff())
            .register(correct.without_autodiff())
            .execute_async()
            .await
            .map_err(|e| TrainError::Readback(format!("{e:?}")))?;
        let value = |which: Read| {
            read.get(which as usize)
                .and_then(|d| d.iter::<f32>().next())
                .ok_or_else(|| TrainError::Readback(format!("the device returned no value for {which:?}")))
        };
        Ok(IterStats {
            iteration: self.iteration,
            epoch: (self.iteration - 1) / self.iters_per_epoch,
            loss: value(Read::Loss)?,
            cd: value(Read::Cd)?,
            reg: value(Read::Reg)?,
            class_loss: value(Read::ClassLoss)?,
            class_accuracy: value(Read::ClassAccuracy)?,
            energy_real: -value(Read::RealOut)?,
            energy_fake: -value(Read::FakeOut)?,
            lr,
            fresh: terms.fresh,
            seconds: 0.0,
            rolled_back: false,
        })
    }
}
