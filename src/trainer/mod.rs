//! Contrastive-divergence training of the energy net, one async iteration at a time.
//!
//! loss = mean f(fake) − mean f(real) + α·mean(f(real)² + f(fake)²), with f = −E the net's
//! output, as in UvA DL tutorial 8. Negatives come from Langevin chains started in the replay
//! buffer. One readback per iteration (the statistics), none inside the Langevin loop.
//!
//! Class-conditional (config `classes` > 0): f = logit_y for each image's label (real images
//! keep theirs, negatives are sampled under theirs), plus the classifier's cross-entropy on the
//! real images weighted by `class_loss_weight` — JEM's p(x, y) = p(x) p(y | x) split. The last
//! layer (the class logits) may learn at its own rate: `head_lr_factor`, `head.rs`.

mod clip;
mod guard;
mod head;
mod stats;

use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use burn::tensor::{Distribution, Int, TensorData, Transaction};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

#[cfg(feature = "fault-injection")]
pub use guard::Fault;
use guard::{Drift, Snapshot};
pub use stats::IterStats;
use stats::Read;

use crate::augment::{SYMMETRIES, dihedral};
use crate::buffer::ReplayBuffer;
use crate::config::{ConfigError, EbmConfig};
use crate::model::{EnergyNet, NetShape};
use crate::platform::Instant;
use crate::sampler::{ChainOptions, LangevinParams, langevin};

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
        "training drifted by iteration {iteration}: the energies of real images and samples moved apart (running mean of |E_real| + |E_fake| {level:.2}, above guard_drift_bound {bound}); stopped — continue from a checkpoint saved before the drift, with a lower learning rate (debm train --keep-every keeps such copies)"
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
        let optim = AdamConfig::new().with_beta_1(0.0).with_beta_2(config.beta2 as f32).init();
        let buffer = ReplayBuffer::with_update(
            config.buffer_size,
            config.image_shape(),
            config.fresh_fraction,
            config.chains_in_place,
            &device.clone().inner(),
        );
        let good = Snapshot { model: model.clone(), optim: optim.clone(), iteration: 0 };
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

    pub fn model(&self) -> &EnergyNet {
        &self.model
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

    /// Learning rate for the next iteration: lr · decay^epoch.
    pub fn current_lr(&self) -> f64 {
        self.config.lr * self.config.lr_decay.powi((self.iteration / self.iters_per_epoch) as i32)
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

    /// One CD iteration on a batch of real images in [-1, 1], shape [N, C, H, W]; a
    /// class-conditional model needs `labels`, one per real image (an unconditional one ignores
    /// them).
    pub async fn step(&mut self, real: Tensor<4>, labels: Option<&[i32]>) -> Result<IterStats, TrainError> {
        let started = Instant::now();
        let dims = real.dims();
        let expected = self.config.image_shape();
        if dims[1..] != expected[..] || dims[0] == 0 {
            return Err(TrainError::BatchShape { got: dims.to_vec(), expected });
        }
        let classes = self.config.classes;
        let real_labels = match (classes, labels) {
            (0, _) => None,
            (_, Some(l)) if l.len() == dims[0] => {
                if let Some(&bad) = l.iter().find(|&&y| y < 0 || y as usize >= classes) {
                    return Err(TrainError::LabelRange { label: bad, classes });
                }
                Some(l)
            }
            (_, l) => return Err(TrainError::Labels { got: l.map_or(0, |l| l.len()), images: dims[0] }),
        };
        let data_device = self.device();
        data_device.seed(self.rng.random());
        let batch = self.config.batch_size;
        let labels_tensor = |l: &[i32]| Tensor::<1, Int>::from_data(TensorData::new(l.to_vec(), [l.len()]), &data_device);

        // Negatives: Langevin chains from the buffer (plus a few fresh starts), each under its label.
        let draw = self.buffer.draw(batch, &mut self.rng, real_labels.unwrap_or(&[]));
        let mut starts = draw.images;
        let mut ages = draw.ages.clone();
        let extra = self.config.fresh_steps().saturating_sub(self.config.langevin_steps);
        if draw.fresh > 0 && extra > 0 {
            ages[..draw.fresh].iter_mut().for_each(|a| *a = a.saturating_add(extra as u32));
            // Chains from noise first take the steps they need beyond the common ones.
            let labels = real_labels.map(|_| labels_tensor(&draw.labels[..draw.fresh]));
            let params = LangevinParams { steps: extra, ..LangevinParams::from(&self.config) };
            let options = ChainOptions { labels, ..Default::default() };
            let (fresh, _) = langevin(&self.model, starts.clone().narrow(0, 0, draw.fresh), &params, &options).await;
            starts = if draw.fresh < batch { Tensor::cat(vec![fresh, starts.narrow(0, draw.fresh, batch - draw.fresh)], 0) } else { fresh };
        }
        let chain = ChainOptions { labels: real_labels.map(|_| labels_tensor(&draw.labels)), ..Default::default() };
        let (fake, _) = langevin(&self.model, starts, &LangevinParams::from(&self.config), &chain).await;
        ages.iter_mut().for_each(|a| *a = a.saturating_add(self.config.langevin_steps as u32));
        self.buffer.put_back(fake.clone(), draw.slots.as_deref(), &draw.labels, &ages);

        // Positives, slightly noised so the data distribution has support everywhere.
        let real = real.without_autodiff();
        let real = if self.config.augment_real { dihedral(real, self.rng.random_range(0..SYMMETRIES)) } else { real };
        let real = if self.config.real_noise_std > 0.0 {
            let noise = Tensor::random(real.shape(), Distribution::Normal(0.0, self.config.real_noise_std), &data_device);
            (real + noise).clamp(-1.0, 1.0)
        } else {
            real
        };
        let n_real = real.dims()[0];

        // One forward for both halves, as in the reference.
        let both = Tensor::cat(vec![real, fake], 0);
        let (real_out, fake_out, class_terms) = match real_labels {
            None => {
                let out = self.model.forward(both);
                (out.clone().narrow(0, 0, n_real), out.narrow(0, n_real, batch), None)
            }
            Some(real_labels) => {
                let logits = self.model.logits(both);
                let mut all = real_labels.to_vec();
                all.extend(&draw.labels);
                let picked = logits.clone().gather(1, labels_tensor(&all).reshape([n_real + batch, 1])).reshape([n_real + batch]);
                let real_logits = logits.narrow(0, 0, n_real);
                let truth = labels_tensor(real_labels);
                let log_probs = burn::tensor::activation::log_softmax(real_logits.clone(), 1);
                let class_loss = log_probs.gather(1, truth.clone().reshape([n_real, 1])).mean().neg();
                let correct = real_logits.argmax(1).reshape([n_real]).equal(truth).float().mean();
                (picked.clone().narrow(0, 0, n_real), picked.narrow(0, n_real, batch), Some((class_loss, correct)))
            }
        };
        let reg = (real_out.clone().square().mean() + fake_out.clone().square().mean()) * self.config.alpha;
        let cd = fake_out.clone().mean() - real_out.clone().mean();
        let mut loss = cd.clone() + reg.clone();
        if let Some((class_loss, _)) = &class_terms {
            loss = loss + class_loss.clone() * self.config.class_loss_weight;
        }

        let mut grads = GradientsParams::from_grads(loss.backward(), &self.model);
        if self.config.grad_clip_norm > 0.0 {
            clip::clip_global_norm(&self.model, &mut grads, self.config.grad_clip_norm);
        }
        let lr = self.current_lr();
        if classes > 0 && self.config.head_lr_factor != 1.0 {
            let head_grads = head::take_head_grads(&self.model, &mut grads);
            self.model = self.optim.step(lr, self.model.clone(), grads);
            self.model = self.optim.step(lr * self.config.head_lr_factor, self.model.clone(), head_grads);
        } else {
            self.model = self.optim.step(lr, self.model.clone(), grads);
        }
        self.iteration += 1;

        // The statistics, read back in one transaction, in the order of `Read`.
        let mut read = Transaction::default()
            .register(loss.without_autodiff())
            .register(cd.without_autodiff())
            .register(reg.without_autodiff())
            .register(real_out.without_autodiff().mean())
            .register(fake_out.without_autodiff().mean());
        if let Some((class_loss, correct)) = class_terms {
            read = read.register(class_loss.without_autodiff()).register(correct.without_autodiff());
        }
        let read = read.execute_async().await.map_err(|e| TrainError::Readback(format!("{e:?}")))?;
        let value = |which: Read| {
            read.get(which as usize)
                .and_then(|d| d.iter::<f32>().next())
                .ok_or_else(|| TrainError::Readback(format!("the device returned no value for {which:?}")))
        };
        let class_value = |which: Read| if classes > 0 { value(which) } else { Ok(0.0) };
        let mut stats = IterStats {
            iteration: self.iteration,
            epoch: (self.iteration - 1) / self.iters_per_epoch,
            loss: value(Read::Loss)?,
            cd: value(Read::Cd)?,
            reg: value(Read::Reg)?,
            class_loss: class_value(Read::ClassLoss)?,
            class_accuracy: class_value(Read::ClassAccuracy)?,
            energy_real: -value(Read::RealOut)?,
            energy_fake: -value(Read::FakeOut)?,
            lr,
            fresh: draw.fresh,
            seconds: started.elapsed().as_secs_f64(),
            rolled_back: false,
        };
        if guard::diverged(&self.config, &stats) {
            self.roll_back()?;
            stats.rolled_back = true;
            stats.iteration = self.iteration;
        } else {
            self.keep_as_good();
            self.check_drift(&stats)?;
        }
        Ok(stats)
    }
}
