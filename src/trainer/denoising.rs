//! The denoising recipe's loss (EDM around an energy, [`crate::denoising`]): per image a level
//! σ with ln σ ~ N(p_mean, p_std²), the noisy image x̃ = x₀ + σ·ε, and EDM's weighted denoising
//! error ‖−∇ᵤH − (x₀ − c_skip·x̃)/c_out‖² (centred images) through the net's input gradient
//! written as forward operations ([`crate::model::ResidualNet::energy_and_gradient`]), so one
//! first-order backward pass gives the exact weight gradient. No chain, no replay buffer.

use burn::prelude::*;
use burn::tensor::{Distribution, Int, TensorData};
use rand_distr::{Distribution as _, StandardNormal};

use super::{Terms, Trainer};
use crate::augment::random_symmetries;
use crate::denoising::training_sigma;

impl Trainer {
    pub(super) async fn denoising_terms(&mut self, real: Tensor<4>, labels: Option<&[i32]>) -> Terms {
        let device = self.device();
        let n = real.dims()[0];
        let x0 = real.without_autodiff();
        let x0 = if self.config.augment_real { random_symmetries(x0, &mut self.rng) } else { x0 };
        let (p_mean, p_std) = (self.config.denoising.p_mean, self.config.denoising.p_std);
        let sigmas: Vec<f32> = (0..n).map(|_| training_sigma(p_mean, p_std, StandardNormal.sample(&mut self.rng)) as f32).collect();
        let sigma = Tensor::<1>::from_data(TensorData::new(sigmas, [n]), &device);
        let noise = Tensor::random(x0.shape(), Distribution::Normal(0.0, 1.0), &device);
        let rows = labels.map(|l| self.class_rows(l));
        let class_ids = rows.map(|rows| Tensor::<1, Int>::from_data(TensorData::new(rows, [n]), &device));
        let net = self.model.residual().expect("a denoising trainer trains a residual net");
        let loss = net.score_matching_loss(x0, sigma, noise, class_ids.as_ref()).mean();
        let zero = Tensor::<1>::zeros([1], &device);
        Terms { loss: loss.clone(), cd: loss, reg: None, real_out: zero.clone(), fake_out: zero, class: None, fresh: 0 }
    }
}
