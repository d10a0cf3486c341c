//! Replay buffer of past negatives (persistent contrastive divergence).
//!
//! Stored on the device as one preallocated [capacity, C, H, W] tensor used as a ring, so that
//! drawing and pushing a batch never moves images through the CPU. For a class-conditional
//! model each entry also keeps the label its chain was sampled under, and every entry its age:
//! the Langevin steps its chain has run since it started from noise (on the CPU: a few bytes),
//! so samples can be taken from chains past their burn-in.
//!
//! Two ways of putting continued chains back ([`crate::EbmConfig::chains_in_place`]): the
//! reference recipe's ring (draw with replacement, append the results over the oldest
//! entries — a drawn chain leaves a copy of itself) or in place (JEM: distinct draws, results
//! written back to the slots they came from, restarts from noise in their own slot). The ring
//! always fills an empty or partly restored buffer.

use burn::prelude::*;
use burn::tensor::{Distribution, IndexingUpdateOp, Int, TensorData};
use rand::{Rng, RngExt};

pub struct ReplayBuffer {
    images: Tensor<4>,
    /// Label of each slot (0 for unconditional training).
    labels: Vec<i32>,
    /// Langevin steps each slot's chain has run since it started from noise.
    ages: Vec<u32>,
    capacity: usize,
    len: usize,
    /// Next ring slot to overwrite once the buffer is full (the oldest entry).
    next: usize,
    fresh_fraction: f64,
    in_place: bool,
}

/// A batch of starting points for the sampler.
pub struct Draw {
    pub images: Tensor<4>,
    /// How many of them are fresh uniform noise (they come first in the batch).
    pub fresh: usize,
    /// The label each chain samples under (all 0 when unlabelled).
    pub labels: Vec<i32>,
    /// The age of each chain (0 for the fresh starts).
    pub ages: Vec<u32>,
    /// In place: the slot each chain (fresh starts included) goes back to, in batch order.
    /// `None`: the results are appended as the ring does.
    pub slots: Option<Vec<usize>>,
}

impl ReplayBuffer {
    /// An empty buffer for images of `shape` = [C, H, W], appending continued chains as a ring.
    pub fn new(capacity: usize, shape: [usize; 3], fresh_fraction: f64, device: &Device) -> Self {
        Self::with_update(capacity, shape, fresh_fraction, false, device)
    }

    /// Like [`Self::new`]; `in_place` writes continued chains back to their own slots once
    /// the buffer is full.
    pub fn with_update(capacity: usize, shape: [usize; 3], fresh_fraction: f64, in_place: bool, device: &Device) -> Self {
        assert!(capacity > 0, "a replay buffer needs room for at least one image");
        let [c, h, w] = shape;
        Self {
            images: Tensor::zeros([capacity, c, h, w], device),
            labels: vec![0; capacity],
            ages: vec![0; capacity],
            capacity,
            len: 0,
            next: 0,
            fresh_fraction,
            in_place,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// `n` uniform-noise images in [-1, 1].
    pub fn noise(n: usize, shape: [usize; 3], device: &Device) -> Tensor<4> {
        let [c, h, w] = shape;
        Tensor::random([n, c, h, w], Distribution::Uniform(-1.0, 1.0), device)
    }

    /// `batch` starting points: each is fresh noise with probability `fresh_fraction`
    /// (always, while the buffer is empty), otherwise a uniformly chosen buffer entry. Fresh
    /// starts take labels drawn uniformly from `label_pool` (e.g. the real batch's labels, so
    /// negatives follow the data's class balance), buffer entries keep their own. An empty pool
    /// labels fresh starts 0.
    pub fn draw(&self, batch: usize, rng: &mut impl Rng, label_pool: &[i32]) -> Draw {
        if self.in_place && self.len == self.capacity && batch <= self.len {
            return self.draw_in_place(batch, rng, label_pool);
        }
        let fresh = if self.len == 0 { batch } else { (0..batch).filter(|_| rng.random::<f64>() < self.fresh_fraction).count() };
        let [_, c, h, w] = self.images.dims();
        let device = self.images.device();
        let mut parts = Vec::with_capacity(2);
        let mut ages = vec![0; fresh];
        let mut labels: Vec<i32> =
            (0..fresh).map(|_| if label_pool.is_empty() { 0 } else { label_pool[rng.random_range(0..label_pool.len())] }).collect();
        if fresh > 0 {
            parts.push(Self::noise(fresh, [c, h, w], &device));
        }
        if fresh < batch {
            let picks: Vec<i32> = (0..batch - fresh).map(|_| rng.random_range(0..self.len) as i32).collect();
            labels.extend(picks.iter().map(|&i| self.labels[i as usize]));
            ages.extend(picks.iter().map(|&i| self.ages[i as usize]));
            let indices = Tensor::<1, Int>::from_data(TensorData::new(picks, [batch - fresh]), &device);
            parts.push(self.images.clone().select(0, indices));
        }
        Draw { images: Tensor::cat(parts, 0), fresh, labels, ages, slots: None }
    }

    /// `batch` distinct slots; each restarts from noise with probability `fresh_fraction`
    /// (fresh starts first in the batch, as in [`Self::draw`]).
    fn draw_in_place(&self, batch: usize, rng: &mut impl Rng, label_pool: &[i32]) -> Draw {
        let picked = rand::seq::index::sample(rng, self.len, batch).into_vec();
        let (fresh_slots, kept): (Vec<usize>, Vec<usize>) = picked.into_iter().partition(|_| rng.random::<f64>() < self.fresh_fraction);
        let fresh = fresh_slots.len();
        let [_, c, h, w] = self.images.dims();
        let device = self.images.device();
        let mut labels: Vec<i32> =
            (0..fresh).map(|_| if label_pool.is_empty() { 0 } else { label_pool[rng.random_range(0..label_pool.len())] }).collect();
        labels.extend(kept.iter().map(|&i| self.labels[i]));
        let mut ages = vec![0; fresh];
        ages.extend(kept.iter().map(|&i| self.ages[i]));
        let mut parts = Vec::with_capacity(2);
        if fresh > 0 {
            parts.push(Self::noise(fresh, [c, h, w], &device));
        }
        if !kept.is_empty() {
            let picks: Vec<i32> = kept.iter().map(|&i| i as i32).collect();
            let indices = Tensor::<1, Int>::from_data(TensorData::new(picks, [kept.len()]), &device);
            parts.push(self.images.clone().select(0, indices));
        }
        let slots = fresh_slots.into_iter().chain(kept).collect();
        Draw { images: Tensor::cat(parts, 0), fresh, labels, ages, slots: Some(slots) }
    }

    /// Puts a drawn batch's continued chains back: into their slots for an in-place draw,
    /// appended as [`Self::push`] does otherwise.
    pub fn put_back(&mut self, samples: Tensor<4>, slots: Option<&[usize]>, labels: &[i32], ages: &[u32]) {
        let Some(slots) = slots else { return self.push(samples, labels, ages) };
        assert_eq!(samples.dims()[0], slots.len(), "one result per drawn slot");
        let samples = samples.without_autodiff();
        let device = self.images.device();
        let picks: Vec<i32> = slots.iter().map(|&i| i as i32).collect();
        let indices = Tensor::<1, Int>::from_data(TensorData::new(picks, [slots.len()]), &device);
        // Held once (taken out of `self`), the buffer is written in place, as in `push`.
        let [_, c, h, w] = self.images.dims();
        let images = std::mem::replace(&mut self.images, Tensor::zeros([0, c, h, w], &device));
        self.images = images.select_assign(0, indices, samples, IndexingUpdateOp::Assign);
        for (k, &slot) in slots.iter().enumerate() {
            self.labels[slot] = labels[k];
            self.ages[slot] = ages[k];
        }
    }

    /// Stores new samples with their labels and ages (empty: all 0), replacing the oldest
    /// entries once full.
    pub fn push(&mut self, samples: Tensor<4>, labels: &[i32], ages: &[u32]) {
        let samples = samples.without_autodiff();
        let n = samples.dims()[0];
        // Only the newest `capacity` samples of an oversized push can survive.
        let (samples, n) =
            if n > self.capacity { (samples.narrow(0, n - self.capacity, self.capacity), self.capacity) } else { (samples, n) };
        let mut written = 0;
        while written < n {
            let start = if self.len < self.capacity { self.len } else { self.next };
            let room = self.capacity - start;
            let take = room.min(n - written);
            let piece = samples.clone().narrow(0, written, take);
            let [_, c, h, w] = self.images.dims();
            // Take the buffer out first: held once, it is written in place; a clone held beside
            // it would make the backend copy all of it (77 MB at the reference size) per push.
            let empty = Tensor::zeros([0, c, h, w], &self.images.device());
            let images = std::mem::replace(&mut self.images, empty);
            self.images = images.slice_assign([start..start + take, 0..c, 0..h, 0..w], piece);
            for k in 0..take {
                // Of an oversized push only the newest `capacity` labels line up with the images.
                let source = written + k + labels.len().saturating_sub(n);
                self.labels[start + k] = labels.get(source).copied().unwrap_or(0);
                let source = written + k + ages.len().saturating_sub(n);
                self.ages[start + k] = ages.get(source).copied().unwrap_or(0);
            }
            written += take;
            if self.len < self.capacity {
                self.len += take;
                self.next = self.len % self.capacity;
            } else {
                self.next = (start + take) % self.capacity;
            }
        }
    }

    /// Replaces every non-finite value with uniform noise (after a divergence), on the device.
    pub fn sanitize(&mut self) {
        let noise = Tensor::random(self.images.shape(), Distribution::Uniform(-1.0, 1.0), &self.images.device());
        let bad = self.images.clone().is_nan().bool_or(self.images.clone().is_inf());
        self.images = self.images.clone().mask_where(bad, noise);
    }

    /// The `n` most recently pushed images and their labels, oldest first (for showing the
    /// current samples).
    pub fn latest(&self, n: usize) -> Option<(Tensor<4>, Vec<i32>)> {
        if self.len == 0 {
            return None;
        }
        let n = n.min(self.len);
        let end = if self.len < self.capacity { self.len } else { self.next + self.capacity };
        let picks: Vec<i32> = (end - n..end).map(|i| (i % self.capacity) as i32).collect();
        let labels = picks.iter().map(|&i| self.labels[i as usize]).collect();
        let device = self.images.device();
        let indices = Tensor::<1, Int>::from_data(TensorData::new(picks, [n]), &device);
        Some((self.images.clone().select(0, indices), labels))
    }

    /// The whole filled part of the buffer, for checkpoints.
    pub fn contents(&self) -> Option<Tensor<4>> {
        (self.len > 0).then(|| self.images.clone().narrow(0, 0, self.len))
    }

    /// Labels of the filled part, in the order of [`Self::contents`].
    pub fn labels(&self) -> &[i32] {
        &self.labels[..self.len]
    }

    /// Ages of the filled part (Langevin steps since noise), in the order of [`Self::contents`].
    pub fn ages(&self) -> &[u32] {
        &self.ages[..self.len]
    }

    /// Ring position of the oldest entry (for checkpoints).
    pub fn next_slot(&self) -> usize {
        self.next
    }

    /// Rebuilds a buffer from saved contents (and their labels and ages, if any).
    pub fn restore(&mut self, contents: Tensor<4>, labels: &[i32], ages: &[u32], next: usize) {
        let n = contents.dims()[0].min(self.capacity);
        let [_, c, h, w] = self.images.dims();
        self.images = self.images.clone().slice_assign([0..n, 0..c, 0..h, 0..w], contents.narrow(0, 0, n));
        for (slot, label) in self.labels.iter_mut().take(n).enumerate() {
            *label = labels.get(slot).copied().unwrap_or(0);
        }
        for (slot, age) in self.ages.iter_mut().take(n).enumerate() {
            *age = ages.get(slot).copied().unwrap_or(0);
        }
        self.len = n;
        self.next = if n < self.capacity { n } else { next % self.capacity };
    }
}
