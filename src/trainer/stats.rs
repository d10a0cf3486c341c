//! What an iteration reports ([`IterStats`]) and the values it reads back from the device to
//! fill it in ([`Read`]), named rather than positional.

use serde::{Deserialize, Serialize};

/// What one CD iteration did, read back after it finished.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct IterStats {
    /// 1-based count of completed iterations.
    pub iteration: u64,
    pub epoch: u64,
    pub loss: f32,
    /// Contrastive-divergence term: mean f(fake) − mean f(real) = mean E(real) − mean E(fake).
    pub cd: f32,
    /// Regulariser α·mean(f(real)² + f(fake)²).
    pub reg: f32,
    /// Classifier cross-entropy on the real batch, before weighting (class-conditional only).
    #[serde(default)]
    pub class_loss: f32,
    /// Share of the real batch the classifier labels correctly (class-conditional only).
    #[serde(default)]
    pub class_accuracy: f32,
    pub energy_real: f32,
    pub energy_fake: f32,
    /// Learning rate used for this iteration's update.
    pub lr: f64,
    /// Negatives started from fresh noise in this iteration.
    pub fresh: usize,
    /// Wall time of the iteration, readback included.
    pub seconds: f64,
    /// The iteration diverged and was undone: weights and optimiser went back to the last good
    /// state and the learning rate was lowered. `iteration` is then the restored count.
    #[serde(default)]
    pub rolled_back: bool,
}

impl IterStats {
    pub fn is_finite(&self) -> bool {
        [self.loss, self.cd, self.reg, self.energy_real, self.energy_fake].iter().all(|v| v.is_finite())
    }
}

/// The statistics an iteration reads back, in the order they are registered.
#[derive(Clone, Copy, Debug)]
pub(super) enum Read {
    Loss,
    Cd,
    Reg,
    /// Mean net output (−E) on the real batch.
    RealOut,
    /// Mean net output (−E) on the negatives.
    FakeOut,
    ClassLoss,
    ClassAccuracy,
}
