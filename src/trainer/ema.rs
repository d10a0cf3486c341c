//! The exponential moving average of the weights (the recovery and denoising recipes', as their authors'): after
//! each good update, ema ← d·ema + (1 − d)·weights. Samples drawn from the average are smoother
//! than from the last update's weights, which wander with each batch.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::prelude::*;

use super::Trainer;

impl Trainer {
    /// The decay of this update's step: the configured one, except that a denoising run's
    /// starts lower, min(decay, (1 + n)/(10 + n)) after n earlier updates (the prototype's), so
    /// the average forgets the random initial net within tens of updates, not thousands.
    fn ema_decay_now(&self) -> f64 {
        let decay = self.config.ema_decay();
        if !self.config.is_denoising() {
            return decay;
        }
        let n = self.iteration.saturating_sub(1) as f64;
        decay.min((1.0 + n) / (10.0 + n))
    }

    /// Moves the average a step towards the current weights (nothing without one).
    pub(super) fn update_ema(&mut self) {
        let Some(ema) = self.ema.take() else { return };
        let decay = self.ema_decay_now() as f32;
        struct Flat(Vec<Tensor<1>>);
        impl ModuleVisitor for Flat {
            fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
                let t = param.val().without_autodiff();
                let n = t.shape().num_elements();
                self.0.push(t.reshape([n]));
            }
        }
        struct Blend {
            current: std::vec::IntoIter<Tensor<1>>,
            decay: f32,
        }
        impl ModuleMapper for Blend {
            fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
                let current = self.current.next().expect("the average has the net's parameters");
                let average = param.val();
                let blended = average.clone() * self.decay + current.reshape(average.shape()) * (1.0 - self.decay);
                Param::initialized(param.id, blended)
            }
        }
        let mut flat = Flat(Vec::new());
        self.model.visit(&mut flat);
        self.ema = Some(ema.map(&mut Blend { current: flat.0.into_iter(), decay }));
    }
}
