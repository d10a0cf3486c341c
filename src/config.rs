//! One serde struct holding every knob of a run: the recipe (contrastive divergence, the UvA
//! tutorial-8 defaults, or diffusion recovery likelihood, [`EbmConfig::recovery`]) and its settings.

use serde::{Deserialize, Serialize};

/// How the energy is trained (and so how it is sampled).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Recipe {
    /// Contrastive divergence with a replay buffer (UvA DL tutorial 8): one energy E(x),
    /// negatives from Langevin chains continued in the buffer. Every weights file written before
    /// recipes existed is of this kind.
    #[default]
    Contrastive,
    /// Diffusion recovery likelihood (Gao et al., ICLR 2021): an energy per noise level, trained
    /// on short chains that start at the noisier image; sampled by walking the levels from
    /// N(0, I) ([`crate::recovery`]).
    Recovery,
    /// Denoising score matching (EDM, Karras et al. 2022, around an energy): one energy E(x, σ)
    /// for every noise level σ, trained with no chain at all; sampled by a Heun walk down the
    /// levels from N(μ, σ_max²) ([`crate::denoising`]).
    Denoising,
}

impl std::str::FromStr for Recipe {
    type Err = ConfigError;

    /// A recipe by its name in configurations (`contrastive`, `recovery`, `denoising`).
    fn from_str(name: &str) -> Result<Self, ConfigError> {
        serde_json::from_value(serde_json::Value::String(name.into()))
            .map_err(|_| err("recipe", format!("unknown recipe `{name}`: use denoising, recovery or contrastive")))
    }
}

impl Recipe {
    /// The recipe a new network trains with when none is named (the site, `debm train`): the
    /// one whose samples from a visitor's own ten minutes score best (BENCHMARKS.md, "A
    /// visitor's ten minutes").
    pub fn for_new_networks() -> Self {
        Recipe::Denoising
    }

    /// The recipe of a file written before recipes existed.
    fn of_older_files() -> Self {
        Recipe::Contrastive
    }
}

/// The settings only the recovery recipe reads.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RecoveryConfig {
    /// Noise levels T of the schedule (the authors' 6; [`crate::recovery::NoiseSchedule`]).
    pub levels: usize,
    /// Langevin steps per level, in training and when sampling (K; the authors' 30). Sampling
    /// with another count than the one trained is worse (measured in the PyTorch prototype).
    pub steps: usize,
    /// b² of the step sizes s_t² = b²·(σ̄_t/σ̄₀)·σ²_{t+1} (the authors' 2e-4).
    pub step_factor: f64,
    /// Decay of the exponential moving average of the weights that samples use.
    pub ema_decay: f64,
    /// Updates over which the learning rate rises linearly from 0 to `lr`.
    pub warmup: u64,
    /// A class-conditional run's share of images trained with their label dropped (the "any
    /// class" row), so that one net samples both from a class and from any class.
    pub unlabelled_fraction: f64,
}

impl Default for RecoveryConfig {
    fn default() -> Self {
        Self { levels: 6, steps: 30, step_factor: 2e-4, ema_decay: 0.995, warmup: 200, unlabelled_fraction: 0.2 }
    }
}

/// The settings only the denoising recipe reads: the residual net's depth, the levels training
/// draws and the walk that samples.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct DenoisingConfig {
    /// Resolutions of the residual net: the first at the image size, each next one pooled by 2
    /// (3: 28, 14 and 7 pixels). Stage i has width·min(i + 1, 2) channels.
    pub stages: usize,
    /// Residual blocks per stage.
    pub blocks: usize,
    /// Width of the noise level's (and class's) embedding.
    pub embedding: usize,
    /// Training's levels: ln σ ~ N(p_mean, p_std²).
    pub p_mean: f64,
    pub p_std: f64,
    /// The walk that samples: from σ_max down to σ_min in `levels` levels (Heun's method: two
    /// gradient evaluations per level but the last), with EDM's stochastic churn (0: none).
    pub sigma_min: f64,
    pub sigma_max: f64,
    pub levels: usize,
    pub churn: f64,
    /// Decay of the moving average of the weights that samples use (it starts lower:
    /// min(decay, (1 + n)/(10 + n)) after n updates, so the first average forgets the random net).
    pub ema_decay: f64,
    /// Updates over which the learning rate rises linearly from 0 to `lr`.
    pub warmup: u64,
    /// A class-conditional run's share of images trained as "any class".
    pub unlabelled_fraction: f64,
}

impl Default for DenoisingConfig {
    fn default() -> Self {
        Self {
            stages: 3,
            blocks: 2,
            embedding: 128,
            p_mean: -1.2,
            p_std: 1.2,
            sigma_min: 0.002,
            sigma_max: 20.0,
            levels: 18,
            churn: 0.0,
            ema_decay: 0.999,
            warmup: 200,
            unlabelled_fraction: 0.2,
        }
    }
}

/// Everything that defines a training run: the network's shape, the Langevin sampler, the
/// replay buffer and the optimiser. Serialises to the JSON the site and `debm` share.
///
/// Unknown fields are rejected so that a typo in a hand-edited file is reported, not ignored.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct EbmConfig {
    /// How the energy is trained: `contrastive` (the reference recipe, and every file written
    /// before this field existed) or `recovery`.
    #[serde(default = "Recipe::of_older_files")]
    pub recipe: Recipe,
    /// Settings of the recovery recipe (ignored by the others).
    pub recovery: RecoveryConfig,
    /// Settings of the denoising recipe (ignored by the others).
    pub denoising: DenoisingConfig,
    /// Image channels: 3 for RGB (DermaMNIST), 1 for grayscale.
    pub channels: usize,
    /// Height and width of the (square) images.
    pub image_size: usize,
    /// Hidden width of the energy net; the convolutions use width/2, width, 2·width, 2·width.
    pub width: usize,
    /// Divide the convolutions' and the hidden dense layer's weights by their largest singular
    /// value ([`crate::model::spectral`]): bounds the energy's input gradient, which the
    /// recovery recipe's Langevin drift follows unclamped.
    pub spectral_norm: bool,
    /// Classes of a class-conditional energy E(x, y) = −logit_y(x) (JEM); 0 = unconditional.
    /// Conditional training needs labelled data with labels below this number.
    pub classes: usize,

    /// Real images per CD iteration (and as many negatives).
    pub batch_size: usize,
    /// Replay-buffer capacity, in images.
    pub buffer_size: usize,
    /// Fraction of each negative batch drawn fresh from uniform noise instead of the buffer.
    pub fresh_fraction: f64,
    /// How continued chains go back into the buffer. `false` (the reference recipe): each
    /// batch draws entries with replacement and its results are appended over the oldest
    /// entries, so a chain drawn twice leaves two copies and the parent stays too — lineages
    /// multiply and the buffer fills with near-identical chains (measured: median nearest
    /// neighbour 0.028 RMS against 0.075 between val images). `true` (JEM's buffer): a batch
    /// draws distinct entries, restarts `fresh_fraction` of them from noise in their own
    /// slot, and writes every result back where it came from — one chain per slot, no copies.
    pub chains_in_place: bool,
    /// Langevin steps per CD iteration.
    pub langevin_steps: usize,
    /// Langevin steps of the negatives that start from fresh noise (0: `langevin_steps`, as in
    /// the reference). Set to the sampling length from noise (e.g. 256) to train on what
    /// noise-started chains produce, so that sampling from noise improves too (short-run /
    /// noise-initialised MCMC); costs (fresh_fraction · extra steps) more Langevin work.
    pub fresh_langevin_steps: usize,
    /// Langevin step size (multiplies the clamped gradient).
    pub step_size: f64,
    /// Standard deviation of the Gaussian noise added at each Langevin step.
    pub noise_std: f64,
    /// Each component of ∇ₓE is clamped to ±grad_clamp before the step.
    pub grad_clamp: f64,

    /// Weight of the energy regulariser α·(E_real² + E_fake²).
    pub alpha: f64,
    /// Standard deviation of the noise added to real images (smooths the data distribution).
    pub real_noise_std: f64,
    /// Train on each real batch under a random flip or quarter turn ([`crate::augment`]):
    /// lesions have no orientation, so this is up to eight times the data for three tensor ops.
    /// The contrastive recipe draws one symmetry per batch afresh each iteration (so each image
    /// meets them all over the epochs); the recovery recipe one per image.
    pub augment_real: bool,
    /// Adam learning rate at iteration 0 (after the warm-up, for the recovery recipe).
    pub lr: f64,
    /// Adam's β₁: 0 in the contrastive reference (its negatives change every step, so momentum
    /// only lags), 0.9 for recovery (Adam's default, as the authors').
    pub beta1: f64,
    /// Adam's β₂.
    pub beta2: f64,
    /// Learning rate multiplier applied once per epoch (step decay).
    pub lr_decay: f64,
    /// Global gradient-norm clip for the parameter update; 0 disables it.
    pub grad_clip_norm: f64,
    /// Weight of the classifier's cross-entropy on real images (class-conditional only): the
    /// p(y|x) term of JEM, which keeps the logits usable for classification.
    pub class_loss_weight: f64,
    /// Learning-rate multiplier for the last layer (the class logits) of a class-conditional
    /// net; 1 = the reference (ignored by an unconditional net). Adam moves each weight by about
    /// lr per update whatever the loss weight, so this is the way to let the head alone learn
    /// faster. Measured on the shipped model (run 15, weights/README.md): 20× for 300 updates
    /// moved val cross-entropy only 0.950 → 0.946, so there the features, not the head's rate,
    /// limit the classifier; the knob stays for nets whose features do separate the classes.
    pub head_lr_factor: f64,

    /// Seed for every random choice (initial weights, noise, buffer draws).
    pub seed: u64,

    /// Divergence guard: an iteration whose |mean E| or |CD| exceeds this (or is not finite)
    /// is rolled back to the last good weights; 0 disables the bound (non-finite values are
    /// always caught).
    pub guard_energy_bound: f64,
    /// Learning-rate multiplier applied at each rollback.
    pub guard_lr_factor: f64,
    /// Consecutive rollbacks after which training stops with an error.
    pub guard_max_rollbacks: usize,
    /// Slow-drift guard: training stops with an error when the running mean of
    /// |E_real| + |E_fake| (over about 100 iterations) exceeds this; 0 disables it. The
    /// regulariser keeps healthy runs near 0 (the reference recipe's logs peak at 0.15, early
    /// conditional training at 0.8), while a drift creeps there over thousands of iterations
    /// with no single step beyond `guard_energy_bound` (run 11: to 10, chains collapsed). The
    /// recovery recipe watches the running mean of |loss| instead (see `trainer::guard`).
    pub guard_drift_bound: f64,
}

impl Default for EbmConfig {
    fn default() -> Self {
        Self {
            recipe: Recipe::Contrastive,
            recovery: RecoveryConfig::default(),
            denoising: DenoisingConfig::default(),
            channels: 3,
            image_size: 28,
            spectral_norm: false,
            width: 32,
            classes: 0,
            batch_size: 128,
            buffer_size: 8192,
            fresh_fraction: 0.05,
            chains_in_place: false,
            langevin_steps: 60,
            fresh_langevin_steps: 0,
            step_size: 10.0,
            noise_std: 0.005,
            grad_clamp: 0.03,
            alpha: 0.1,
            real_noise_std: 0.005,
            augment_real: false,
            lr: 1e-4,
            beta1: 0.0,
            beta2: 0.999,
            lr_decay: 0.97,
            grad_clip_norm: 0.1,
            class_loss_weight: 1.0,
            head_lr_factor: 1.0,
            seed: 42,
            guard_energy_bound: 1000.0,
            guard_lr_factor: 0.5,
            guard_max_rollbacks: 5,
            guard_drift_bound: 2.0,
        }
    }
}

/// A configuration value that cannot be used, with the field it belongs to.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid setting `{field}`: {message}")]
pub struct ConfigError {
    pub field: &'static str,
    pub message: String,
}

fn err(field: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError { field, message: message.into() }
}

/// Largest image side accepted (MedMNIST+ goes up to 224).
pub const MAX_IMAGE_SIZE: usize = crate::data::shard::MAX_SIDE;
/// Most classes a conditional energy may have (labels are stored as bytes).
pub const MAX_CLASSES: usize = 256;
/// Largest batch of one CD iteration.
pub const MAX_BATCH: usize = 4096;
/// Most images the replay buffer may hold.
pub const MAX_BUFFER_IMAGES: usize = 1 << 20;
/// Most memory the replay buffer (f32 values) may take: a browser tab has a few GB at best.
pub const MAX_BUFFER_BYTES: usize = 1 << 30;

impl EbmConfig {
    /// The recovery-likelihood recipe for a new network: the net of the PyTorch prototype
    /// (`../shared/bench/torch_drl_ref.py`: base width 32, our `width` 64, spectrally normalised
    /// as the authors' and the prototype's) with a shift per noise level, T = 6 levels of K = 30 steps, Adam (β₁ 0.9) at 2e-4 after a 200-update warm-up,
    /// global gradient-norm clip 1, EMA 0.995, every image under a random flip or quarter turn
    /// (the authors flip left–right; lesions have no orientation at all). The guard stops a
    /// non-finite loss or one beyond ±1e6, as the authors' code does; no energy regulariser (only
    /// differences of f count).
    pub fn recovery() -> Self {
        Self {
            recipe: Recipe::Recovery,
            width: 64,
            spectral_norm: true,
            augment_real: true,
            lr: 2e-4,
            beta1: 0.9,
            lr_decay: 1.0,
            grad_clip_norm: 1.0,
            alpha: 0.0,
            // The authors' code stops on a loss beyond 1e6; the drift guard watches the running
            // mean of |loss|, healthy ≤ 0.9 (a fresh net's first iterations) and 0.11–0.15 later.
            guard_energy_bound: 1e6,
            guard_drift_bound: 5.0,
            ..Self::default()
        }
    }

    /// The denoising recipe for a new network: the PyTorch prototype's
    /// (`../shared/bench/torch_edm_energy.py`): a residual energy net of width 32 (stages of 32,
    /// 64, 64 channels at 28, 14, 7 pixels, two blocks each, no spectral norm), batch 64, Adam
    /// (β₁ 0.9) at 5e-4 after a 200-update warm-up, global gradient-norm clip 1, EMA 0.999,
    /// every image under a random flip or quarter turn. The guard stops a non-finite or huge
    /// loss; the drift guard watches the running mean of the loss (about 0.3–1 while healthy).
    pub fn denoising() -> Self {
        Self {
            recipe: Recipe::Denoising,
            width: 32,
            batch_size: 64,
            augment_real: true,
            lr: 5e-4,
            beta1: 0.9,
            lr_decay: 1.0,
            grad_clip_norm: 1.0,
            alpha: 0.0,
            guard_energy_bound: 1e6,
            guard_drift_bound: 20.0,
            ..Self::default()
        }
    }

    /// The preset of `recipe` for a new network.
    pub fn preset(recipe: Recipe) -> Self {
        match recipe {
            Recipe::Contrastive => Self::default(),
            Recipe::Recovery => Self::recovery(),
            Recipe::Denoising => Self::denoising(),
        }
    }

    pub fn is_recovery(&self) -> bool {
        self.recipe == Recipe::Recovery
    }

    pub fn is_denoising(&self) -> bool {
        self.recipe == Recipe::Denoising
    }

    /// The recipe samples by walking its noise levels down from noise (recovery, denoising),
    /// not by continuing persistent Langevin chains (contrastive, the only one that keeps them).
    pub fn walks_levels(&self) -> bool {
        self.recipe != Recipe::Contrastive
    }

    /// The recipe samples from a moving average of the weights (recovery and denoising).
    pub fn uses_ema(&self) -> bool {
        self.recipe != Recipe::Contrastive
    }

    /// The decay of that moving average.
    pub fn ema_decay(&self) -> f64 {
        match self.recipe {
            Recipe::Denoising => self.denoising.ema_decay,
            _ => self.recovery.ema_decay,
        }
    }

    /// Updates of the learning rate's linear warm-up (none for the contrastive recipe).
    pub fn warmup(&self) -> u64 {
        match self.recipe {
            Recipe::Contrastive => 0,
            Recipe::Recovery => self.recovery.warmup,
            Recipe::Denoising => self.denoising.warmup,
        }
    }

    /// A class-conditional run's share of images trained as "any class".
    pub fn unlabelled_fraction(&self) -> f64 {
        match self.recipe {
            Recipe::Denoising => self.denoising.unlabelled_fraction,
            _ => self.recovery.unlabelled_fraction,
        }
    }

    /// Noise levels of the energy: T for the recovery recipe, 0 (one energy) otherwise.
    pub fn levels(&self) -> usize {
        if self.is_recovery() { self.recovery.levels } else { 0 }
    }

    /// Parses JSON and validates it. Missing fields take their defaults.
    pub fn from_json(json: &str) -> Result<Self, ConfigError> {
        let config: Self = serde_json::from_str(json).map_err(|e| err("json", format!("not a valid configuration: {e}")))?;
        config.validate()?;
        Ok(config)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a plain struct always serialises")
    }

    /// Checks every field and reports the first bad one.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let positive = |field: &'static str, v: f64| {
            if v.is_finite() && v > 0.0 { Ok(()) } else { Err(err(field, format!("must be a finite number above 0 (got {v})"))) }
        };
        let non_negative = |field: &'static str, v: f64| {
            if v.is_finite() && v >= 0.0 { Ok(()) } else { Err(err(field, format!("must be a finite number ≥ 0 (got {v})"))) }
        };
        if self.channels != 1 && self.channels != 3 {
            return Err(err("channels", format!("must be 1 (grayscale) or 3 (RGB) (got {})", self.channels)));
        }
        if !(8..=MAX_IMAGE_SIZE).contains(&self.image_size) {
            return Err(err("image_size", format!("must be between 8 and {MAX_IMAGE_SIZE} pixels (got {})", self.image_size)));
        }
        if self.width < 2 || !self.width.is_multiple_of(2) || self.width > 512 {
            return Err(err("width", format!("must be an even number between 2 and 512 (got {})", self.width)));
        }
        if self.classes == 1 || self.classes > MAX_CLASSES {
            return Err(err("classes", format!("must be 0 (unconditional) or 2–{MAX_CLASSES} (got {})", self.classes)));
        }
        if self.batch_size == 0 || self.batch_size > MAX_BATCH {
            return Err(err("batch_size", format!("must be between 1 and {MAX_BATCH} (got {})", self.batch_size)));
        }
        if self.buffer_size < self.batch_size {
            return Err(err(
                "buffer_size",
                format!("must hold at least one batch ({} images) (got {})", self.batch_size, self.buffer_size),
            ));
        }
        if self.buffer_size > MAX_BUFFER_IMAGES {
            return Err(err("buffer_size", format!("must be at most {MAX_BUFFER_IMAGES} images (got {})", self.buffer_size)));
        }
        if self.buffer_bytes() > MAX_BUFFER_BYTES {
            return Err(err(
                "buffer_size",
                format!(
                    "{} images of this size need {} MB, over the {} MB limit; lower buffer_size",
                    self.buffer_size,
                    self.buffer_bytes() >> 20,
                    MAX_BUFFER_BYTES >> 20
                ),
            ));
        }
        if !(0.0..=1.0).contains(&self.fresh_fraction) {
            return Err(err("fresh_fraction", format!("must be between 0 and 1 (got {})", self.fresh_fraction)));
        }
        if self.langevin_steps == 0 || self.langevin_steps > 10_000 {
            return Err(err("langevin_steps", format!("must be between 1 and 10000 (got {})", self.langevin_steps)));
        }
        if self.fresh_langevin_steps > 10_000 {
            return Err(err("fresh_langevin_steps", format!("must be at most 10000 (got {})", self.fresh_langevin_steps)));
        }
        positive("step_size", self.step_size)?;
        non_negative("noise_std", self.noise_std)?;
        positive("grad_clamp", self.grad_clamp)?;
        non_negative("alpha", self.alpha)?;
        non_negative("real_noise_std", self.real_noise_std)?;
        positive("lr", self.lr)?;
        if !(self.beta1.is_finite() && (0.0..1.0).contains(&self.beta1)) {
            return Err(err("beta1", format!("must be in [0, 1) (got {})", self.beta1)));
        }
        if !(self.beta2.is_finite() && (0.0..1.0).contains(&self.beta2)) {
            return Err(err("beta2", format!("must be in [0, 1) (got {})", self.beta2)));
        }
        if !(self.lr_decay.is_finite() && self.lr_decay > 0.0 && self.lr_decay <= 1.0) {
            return Err(err("lr_decay", format!("must be in (0, 1] (got {})", self.lr_decay)));
        }
        non_negative("grad_clip_norm", self.grad_clip_norm)?;
        non_negative("class_loss_weight", self.class_loss_weight)?;
        if !(self.head_lr_factor.is_finite() && self.head_lr_factor > 0.0 && self.head_lr_factor <= 1000.0) {
            return Err(err("head_lr_factor", format!("must be above 0 and at most 1000 (got {})", self.head_lr_factor)));
        }
        non_negative("guard_energy_bound", self.guard_energy_bound)?;
        non_negative("guard_drift_bound", self.guard_drift_bound)?;
        if !(self.guard_lr_factor.is_finite() && self.guard_lr_factor > 0.0 && self.guard_lr_factor <= 1.0) {
            return Err(err("guard_lr_factor", format!("must be in (0, 1] (got {})", self.guard_lr_factor)));
        }
        if self.guard_max_rollbacks == 0 {
            return Err(err("guard_max_rollbacks", "must be at least 1"));
        }
        if self.is_recovery() {
            self.recovery.validate()?;
        }
        if self.is_denoising() {
            self.denoising.validate(self.image_size)?;
        }
        Ok(())
    }

    /// Langevin steps of a negative started from fresh noise.
    pub fn fresh_steps(&self) -> usize {
        if self.fresh_langevin_steps == 0 { self.langevin_steps } else { self.fresh_langevin_steps }
    }

    pub fn is_conditional(&self) -> bool {
        self.classes > 0
    }

    /// Class logits of the net's last layer, its own classifier: a conditional contrastive net's
    /// classes; 0 for a recovery or denoising net, whose classes are an embedding (a probe
    /// classifies for it).
    pub fn head_classes(&self) -> usize {
        if self.recipe == Recipe::Contrastive { self.classes } else { 0 }
    }

    /// Shape of one image as [channels, height, width].
    pub fn image_shape(&self) -> [usize; 3] {
        [self.channels, self.image_size, self.image_size]
    }

    /// Bytes the replay buffer occupies on the device (f32).
    pub fn buffer_bytes(&self) -> usize {
        self.buffer_size * self.channels * self.image_size * self.image_size * 4
    }
}

impl RecoveryConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        if !(2..=crate::recovery::MAX_LEVELS).contains(&self.levels) {
            return Err(err("recovery.levels", format!("must be between 2 and {} (got {})", crate::recovery::MAX_LEVELS, self.levels)));
        }
        if self.steps == 0 || self.steps > 1000 {
            return Err(err("recovery.steps", format!("must be between 1 and 1000 (got {})", self.steps)));
        }
        if !(self.step_factor.is_finite() && self.step_factor > 0.0 && self.step_factor <= 1.0) {
            return Err(err("recovery.step_factor", format!("must be above 0 and at most 1 (got {})", self.step_factor)));
        }
        if !(self.ema_decay.is_finite() && (0.0..1.0).contains(&self.ema_decay)) {
            return Err(err("recovery.ema_decay", format!("must be in [0, 1) (got {})", self.ema_decay)));
        }
        if !(self.unlabelled_fraction.is_finite() && (0.0..=1.0).contains(&self.unlabelled_fraction)) {
            return Err(err("recovery.unlabelled_fraction", format!("must be in [0, 1] (got {})", self.unlabelled_fraction)));
        }
        Ok(())
    }
}

impl DenoisingConfig {
    fn validate(&self, image_size: usize) -> Result<(), ConfigError> {
        use crate::denoising::{MAX_SIGMA, MAX_WALK_LEVELS, MIN_SIGMA};
        if !(1..=4).contains(&self.stages) {
            return Err(err("denoising.stages", format!("must be between 1 and 4 (got {})", self.stages)));
        }
        let side = 1usize << (self.stages - 1);
        if !image_size.is_multiple_of(side) {
            return Err(err(
                "denoising.stages",
                format!(
                    "{} stages halve the image {} times, and {image_size} pixels do not divide by {side}",
                    self.stages,
                    self.stages - 1
                ),
            ));
        }
        if !(1..=8).contains(&self.blocks) {
            return Err(err("denoising.blocks", format!("must be between 1 and 8 (got {})", self.blocks)));
        }
        if self.embedding < 4 || !self.embedding.is_multiple_of(4) || self.embedding > 1024 {
            return Err(err("denoising.embedding", format!("must be a multiple of 4 between 4 and 1024 (got {})", self.embedding)));
        }
        if !(self.p_mean.is_finite() && self.p_mean.abs() <= 10.0) {
            return Err(err("denoising.p_mean", format!("must be a finite number between -10 and 10 (got {})", self.p_mean)));
        }
        if !(self.p_std.is_finite() && self.p_std > 0.0 && self.p_std <= 10.0) {
            return Err(err("denoising.p_std", format!("must be above 0 and at most 10 (got {})", self.p_std)));
        }
        let in_range = |v: f64| v.is_finite() && (MIN_SIGMA..=MAX_SIGMA).contains(&v);
        if !in_range(self.sigma_min) {
            return Err(err("denoising.sigma_min", format!("must be between {MIN_SIGMA} and {MAX_SIGMA} (got {})", self.sigma_min)));
        }
        if !in_range(self.sigma_max) || self.sigma_max <= self.sigma_min {
            return Err(err(
                "denoising.sigma_max",
                format!("must be above sigma_min ({}) and at most {MAX_SIGMA} (got {})", self.sigma_min, self.sigma_max),
            ));
        }
        if !(1..=MAX_WALK_LEVELS).contains(&self.levels) {
            return Err(err("denoising.levels", format!("must be between 1 and {MAX_WALK_LEVELS} (got {})", self.levels)));
        }
        if !(self.churn.is_finite() && (0.0..=1000.0).contains(&self.churn)) {
            return Err(err("denoising.churn", format!("must be between 0 and 1000 (got {})", self.churn)));
        }
        if !(self.ema_decay.is_finite() && (0.0..1.0).contains(&self.ema_decay)) {
            return Err(err("denoising.ema_decay", format!("must be in [0, 1) (got {})", self.ema_decay)));
        }
        if !(self.unlabelled_fraction.is_finite() && (0.0..=1.0).contains(&self.unlabelled_fraction)) {
            return Err(err("denoising.unlabelled_fraction", format!("must be in [0, 1] (got {})", self.unlabelled_fraction)));
        }
        Ok(())
    }
}
