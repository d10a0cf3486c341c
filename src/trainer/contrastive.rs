//! The contrastive recipe's loss (UvA DL tutorial 8):
//! loss = mean f(fake) − mean f(real) + α·mean(f(real)² + f(fake)²), with f = −E the net's
//! output. Negatives come from Langevin chains started in the replay buffer.
//!
//! Class-conditional (config `classes` > 0): f = logit_y for each image's label (real images
//! keep theirs, negatives are sampled under theirs), plus the classifier's cross-entropy on the
//! real images weighted by `class_loss_weight` — JEM's p(x, y) = p(x) p(y | x) split.

use burn::prelude::*;
use burn::tensor::{Distribution, Int, TensorData};
use rand::RngExt;

use super::{Terms, Trainer};
use crate::augment::{SYMMETRIES, dihedral};
use crate::sampler::{ChainOptions, Dynamics, LangevinParams, langevin};

impl Trainer {
    /// The negatives (continued in the buffer) and the loss terms of one iteration.
    pub(super) async fn contrastive_terms(&mut self, real: Tensor<4>, real_labels: Option<&[i32]>) -> Terms {
        let data_device = self.device();
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
            let dynamics = Dynamics::Clamped(LangevinParams { steps: extra, ..LangevinParams::from(&self.config) });
            let options = ChainOptions { labels, ..Default::default() };
            let (fresh, _) = langevin(&self.model, starts.clone().narrow(0, 0, draw.fresh), &dynamics, &options).await;
            starts = if draw.fresh < batch { Tensor::cat(vec![fresh, starts.narrow(0, draw.fresh, batch - draw.fresh)], 0) } else { fresh };
        }
        let chain = ChainOptions { labels: real_labels.map(|_| labels_tensor(&draw.labels)), ..Default::default() };
        let (fake, _) = langevin(&self.model, starts, &Dynamics::Clamped(LangevinParams::from(&self.config)), &chain).await;
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
        let (real_out, fake_out, class) = match real_labels {
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
        if let Some((class_loss, _)) = &class {
            loss = loss + class_loss.clone() * self.config.class_loss_weight;
        }
        Terms { loss, cd, reg: Some(reg), real_out: real_out.mean(), fake_out: fake_out.mean(), class, fresh: draw.fresh }
    }
}
