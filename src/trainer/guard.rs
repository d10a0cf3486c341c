//! The divergence guard: the last state known to be good, the test of a diverged iteration,
//! and the roll-back to it (lower learning rate, buffer cleaned of non-finite samples); and the
//! slow-drift guard, which stops a run whose energies creep away from 0 over many iterations
//! (rolling back one step cannot undo that; a kept checkpoint from before the drift can). Fault
//! injection, for the tests and fault drills that exercise it, exists only with the
//! `fault-injection` feature.

use burn::optim::ModuleOptimizer;

use super::{IterStats, TrainError, Trainer};
use crate::config::EbmConfig;
use crate::model::EnergyNet;

/// The last state known to be good.
#[derive(Clone)]
pub(super) struct Snapshot {
    pub model: EnergyNet,
    pub optim: ModuleOptimizer,
    pub iteration: u64,
}

/// A statistic beyond the guard's bound, or not a number at all.
pub(super) fn diverged(config: &EbmConfig, s: &IterStats) -> bool {
    let bound = config.guard_energy_bound as f32;
    !s.is_finite() || (bound > 0.0 && [s.energy_real, s.energy_fake, s.cd].iter().any(|v| v.abs() > bound))
}

/// Weight of the newest iteration in the drift guard's running mean: about the last 100
/// iterations count, so one noisy batch cannot trip it.
const DRIFT_WEIGHT: f64 = 0.01;

/// The running mean that the slow-drift guard watches: of |E_real| + |E_fake| for the
/// contrastive recipe (its regulariser holds both near 0), of |loss| for the recovery recipe
/// (its energies carry a free per-level offset — drl3's sit at ~45 while healthy — but the
/// weighted gap f(y⁻, t) − f(y⁺, t) stays near 0: a running mean of 0.11–0.15 from update 800
/// on, ≤ 0.9 over a fresh net's first 400; a runaway, which the authors' code stops only at
/// a loss below −1e6, leaves that range long before).
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Drift {
    mean: Option<f64>,
}

impl Drift {
    /// A running mean carried over from a checkpoint.
    pub fn resumed_at(level: f64) -> Self {
        Self { mean: Some(level) }
    }

    /// The running mean so far; `None` before the first healthy iteration.
    pub fn level(&self) -> Option<f64> {
        self.mean
    }

    /// Takes in one healthy iteration; `by_loss`: a recovery or denoising run, whose running
    /// mean is of |loss|. Returns the running mean.
    pub fn update(&mut self, s: &IterStats, by_loss: bool) -> f64 {
        let level = f64::from(if by_loss { s.cd.abs() } else { s.energy_real.abs() + s.energy_fake.abs() });
        let mean = self.mean.map_or(level, |m| m + DRIFT_WEIGHT * (level - m));
        self.mean = Some(mean);
        mean
    }
}

impl Trainer {
    /// Records a healthy iteration in the slow-drift guard; an error once the running mean of
    /// the energies' size is beyond `guard_drift_bound`.
    pub(super) fn check_drift(&mut self, s: &IterStats) -> Result<(), TrainError> {
        let level = self.drift.update(s, self.config.recipe != crate::config::Recipe::Contrastive);
        let bound = self.config.guard_drift_bound;
        if bound > 0.0 && level > bound {
            return Err(TrainError::Drifted { iteration: s.iteration, level, bound });
        }
        Ok(())
    }

    /// The slow-drift guard's running mean ([`Drift`]; `None` before the first
    /// healthy iteration), kept in checkpoints so a resumed run watches the same level.
    pub fn drift_level(&self) -> Option<f64> {
        self.drift.level()
    }

    /// Continues the slow-drift guard from a checkpoint's running mean.
    pub fn resume_drift_level(&mut self, level: f64) {
        self.drift = Drift::resumed_at(level);
    }

    /// Remembers the current state as the last good one.
    pub(super) fn keep_as_good(&mut self) {
        self.rollbacks_in_a_row = 0;
        self.good = Snapshot { model: self.model.clone(), optim: self.optim.clone(), iteration: self.iteration };
    }

    /// Back to the last good weights and optimiser, with a lower learning rate and a buffer
    /// cleaned of non-finite samples.
    pub(super) fn roll_back(&mut self) -> Result<(), TrainError> {
        self.rollbacks_in_a_row += 1;
        self.rollbacks_total += 1;
        let good = self.good.clone();
        self.model = good.model;
        self.optim = good.optim;
        self.iteration = good.iteration;
        self.config.lr *= self.config.guard_lr_factor;
        self.buffer.sanitize();
        if self.rollbacks_in_a_row >= self.config.guard_max_rollbacks {
            return Err(TrainError::Diverged { rollbacks: self.rollbacks_in_a_row, lr: self.current_lr() });
        }
        Ok(())
    }
}

#[cfg(feature = "fault-injection")]
/// Faults a test or a fault drill can inject to exercise the divergence guard.
#[derive(Clone, Copy, Debug)]
pub enum Fault {
    /// Every weight becomes NaN.
    NanWeights,
    /// Multiplies the weights by this factor (an exploding update).
    ScaleWeights(f32),
}

#[cfg(feature = "fault-injection")]
impl Trainer {
    /// Injects a fault into the current weights (tests and fault drills).
    pub fn inject_fault(&mut self, fault: Fault) {
        use burn::module::{Module, ModuleMapper, Param};
        use burn::prelude::*;
        struct Corrupt(Fault);
        impl ModuleMapper for Corrupt {
            fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
                let id = param.id;
                let t = param.val();
                let t = match self.0 {
                    Fault::NanWeights => t * f32::NAN,
                    Fault::ScaleWeights(f) => t * f,
                };
                Param::initialized(id, t.detach().require_grad())
            }
        }
        self.model = self.model.clone().map(&mut Corrupt(fault));
    }
}
