//! The recovery recipe's loss (Gao et al., ICLR 2021; the authors' `training_losses`): per image
//! a level t, its noisy x_t and the noisier x̃ = a_{t+1}·x_t + σ_{t+1}·ε; K Langevin steps of
//! p(y | x̃) at level t from y = x̃ give the negative; then
//! loss = mean (f(y_neg, t) − f(y_pos, t))·σ₁/σ_{t+1}, with y = a_{t+1}·x (no gradient through
//! the chain). Images may take a random symmetry each (`augment_real`). A class-conditional net
//! learns f(y, t, k) on each image's label, except for a share of images (`unlabelled_fraction`; the denoising recipe's rows likewise)
//! that train its "any class" row: the same loss, so both are energies of the same recipe.

use burn::prelude::*;
use burn::tensor::{Distribution, Int, TensorData};
use rand::RngExt;

use super::{Terms, Trainer};
use crate::augment::random_symmetries;
use crate::sampler::{ChainOptions, Dynamics, RecoveryChains, Walk, langevin};

impl Trainer {
    /// The class row each image trains: its label, or "any class" (row `classes`) for a random
    /// `unlabelled_fraction` of them.
    pub(super) fn class_rows(&mut self, labels: &[i32]) -> Vec<i32> {
        let (any, p) = (self.config.classes as i32, self.config.unlabelled_fraction());
        labels.iter().map(|&k| if self.rng.random_bool(p) { any } else { k }).collect()
    }
}

/// One value per image as a [N, 1, 1, 1] tensor (to scale whole images).
fn per_image(values: Vec<f32>, device: &Device) -> Tensor<4> {
    let n = values.len();
    Tensor::from_data(TensorData::new(values, [n, 1, 1, 1]), device)
}

impl Trainer {
    /// The positive and negative pairs and the loss terms of one iteration.
    pub(super) async fn recovery_terms(&mut self, real: Tensor<4>, labels: Option<&[i32]>) -> Terms {
        let schedule = self.schedule.clone().expect("a recovery trainer has its schedule");
        let device = self.device();
        let n = real.dims()[0];
        let x0 = real.without_autodiff();
        let x0 = if self.config.augment_real { random_symmetries(x0, &mut self.rng) } else { x0 };
        let levels: Vec<usize> = (0..n).map(|_| self.rng.random_range(0..schedule.levels())).collect();
        let column = |f: &dyn Fn(usize) -> f32| per_image(levels.iter().map(|&t| f(t)).collect(), &device);
        let noise = || Tensor::random(x0.shape(), Distribution::Normal(0.0, 1.0), &device);
        let x_t = x0.clone() * column(&|t| schedule.a_cum[t]) + noise() * column(&|t| schedule.sigma_cum[t]);
        let x_tilde = x_t.clone() * column(&|t| schedule.a[t + 1]) + noise() * column(&|t| schedule.sigma[t + 1]);
        // i32, as every backend stores integers (WebGPU reads i64 data as pairs of i32).
        let level_ids = Tensor::<1, Int>::from_data(TensorData::new(levels.iter().map(|&t| t as i32).collect(), [n]), &device);

        let chains = Dynamics::Recovery(RecoveryChains {
            schedule: schedule.clone(),
            steps: self.config.recovery.steps,
            noise_scale: 1.0,
            walk: Walk::OneLevel,
            final_drift: 0.0,
        });
        let rows = labels.map(|l| self.class_rows(l));
        let class_ids = rows.map(|rows| Tensor::<1, Int>::from_data(TensorData::new(rows, [n]), &device));
        let options =
            ChainOptions { levels: Some(levels.iter().map(|&t| t as u32).collect()), labels: class_ids.clone(), ..Default::default() };
        let (x_neg, _) = langevin(&self.model, x_tilde, &chains, &options).await;

        let scale = column(&|t| schedule.input_scale(t));
        let both = Tensor::cat(vec![x_t * scale.clone(), x_neg * scale], 0);
        let twice = |ids: Tensor<1, Int>| Tensor::cat(vec![ids.clone(), ids], 0);
        let f = self.model.forward_at_given(both, &twice(level_ids), class_ids.map(twice).as_ref());
        let (f_pos, f_neg) = (f.clone().narrow(0, 0, n), f.narrow(0, n, n));
        let weights = Tensor::<1>::from_data(TensorData::new(levels.iter().map(|&t| schedule.loss_weight(t)).collect(), [n]), &device);
        let loss = ((f_neg.clone() - f_pos.clone()) * weights).mean();
        Terms { loss: loss.clone(), cd: loss, reg: None, real_out: f_pos.mean(), fake_out: f_neg.mean(), class: None, fresh: 0 }
    }
}
