//! Shared by the native tests and the browser tests, so both run the same checks.
#![allow(dead_code)]

use dermaebm::buffer::ReplayBuffer;
use dermaebm::inference::energies;
use dermaebm::metrics::auroc_lower_is_positive;
use dermaebm::{Device, EbmConfig, EnergyNet, Trainer, synthetic};

/// CD iterations the learning test runs (natively and in the browser).
pub const BROWSER_ITERATIONS: usize = 25;
/// The same test on WebGPU, where Chromium's software adapter takes seconds per iteration: the
/// tiny run already tells data from noise perfectly after 6 iterations natively.
pub const WEBGPU_ITERATIONS: usize = 8;

/// A config small enough for a browser test on a software GPU.
pub fn tiny_config(seed: u64) -> EbmConfig {
    EbmConfig {
        channels: 1,
        image_size: 12,
        width: 8,
        batch_size: 32,
        buffer_size: 512,
        langevin_steps: 15,
        lr: 2e-3,
        seed,
        ..EbmConfig::default()
    }
}

/// AUROC of data against uniform noise under `model`'s energy (1.0 = every data image has a
/// lower energy than every noise image).
pub async fn data_vs_noise_auroc(model: &EnergyNet, config: &EbmConfig, device: &Device, seed: u64) -> f64 {
    let n = 64;
    let data = synthetic::patterns(n, config.channels, config.image_size, 0.05, seed, device);
    device.seed(seed);
    let noise = ReplayBuffer::noise(n, config.image_shape(), device);
    let e_data = energies(model, data, 64).await.expect("energies of data");
    let e_noise = energies(model, noise, 64).await.expect("energies of noise");
    auroc_lower_is_positive(&e_data, &e_noise).expect("finite energies")
}

/// The tiny config trained for `iterations` CD steps on the synthetic patterns.
pub async fn trained_tiny(device: &Device, iterations: usize) -> (Trainer, EbmConfig) {
    let config = tiny_config(1);
    let mut trainer = Trainer::new(config.clone(), device).expect("valid config");
    for i in 0..iterations {
        let real = synthetic::patterns(config.batch_size, 1, config.image_size, 0.05, i as u64, &trainer.device());
        let stats = trainer.step(real, None).await.expect("training step");
        assert!(stats.is_finite(), "iteration {i} produced non-finite statistics: {stats:?}");
    }
    (trainer, config)
}

/// Trains the tiny config for `iterations` CD steps on the synthetic patterns and returns the
/// AUROC before and after training.
pub async fn learning_run(device: &Device, iterations: usize) -> (f64, f64) {
    let config = tiny_config(1);
    let untrained = Trainer::new(config.clone(), device).expect("valid config");
    let before = data_vs_noise_auroc(untrained.model(), &config, &untrained.device(), 1000).await;
    let (trainer, _) = trained_tiny(device, iterations).await;
    let after = data_vs_noise_auroc(trainer.model(), &config, &trainer.device(), 1000).await;
    (before, after)
}

/// Mean energy of a fixed batch of noise before and after Langevin under a random net. The
/// chain runs without its noise term: a random net's gradients are so small that the noise
/// (σ = 0.005 per step) moves the energy about as much as the gradient steps do, which made the
/// check a coin toss on some backends; without noise every step must descend.
pub async fn langevin_energy_drop(device: &Device) -> (f32, f32) {
    use dermaebm::sampler::{LangevinParams, langevin};
    let config = tiny_config(3);
    device.seed(3);
    let net = EnergyNet::new((&config).into(), device);
    let start = ReplayBuffer::noise(64, config.image_shape(), device);
    let params = LangevinParams { noise_std: 0.0, ..LangevinParams::from(&config) };
    let before = energies(&net, start.clone(), 64).await.unwrap();
    let (end, _) = langevin(&net, start, &params.into(), &Default::default()).await;
    let after = energies(&net, end, 64).await.unwrap();
    let mean = |v: &[f32]| v.iter().sum::<f32>() / v.len() as f32;
    (mean(&before), mean(&after))
}

/// Energies and input gradients ∇ₓE of one seeded net and one seeded batch, computed on the CPU
/// backend and again on `device` (same weights, same images): the numbers Langevin runs on.
/// Returns (CPU energies, CPU gradient, `device` energies, `device` gradient).
pub async fn energy_and_gradient_on_both(device: &Device) -> (Vec<f32>, Vec<f32>, Vec<f32>, Vec<f32>) {
    energy_and_gradient_on_both_for(device, &tiny_config(7), None, false).await
}

/// [`energy_and_gradient_on_both`] for a net of `config` (its level tables random), at `levels`
/// (one per image, 16 images) for a level-conditioned net. With `baked`, `device` computes with
/// the net's spectral normalisation applied once to its weights ([`EnergyNet::baked`], what
/// sampling uses), the CPU with the live normalisation: the two must agree.
pub async fn energy_and_gradient_on_both_for(
    device: &Device,
    config: &EbmConfig,
    levels: Option<Vec<i32>>,
    baked: bool,
) -> (Vec<f32>, Vec<f32>, Vec<f32>, Vec<f32>) {
    use burn::tensor::{Int, TensorData};
    use dermaebm::Tensor;
    use dermaebm::inference::read_values;
    use dermaebm::weights::{load_model, model_bytes};
    let shape: dermaebm::model::NetShape = config.into();
    let cpu = Device::flex();
    cpu.seed(7);
    let net = with_random_levels(EnergyNet::new(shape, &cpu));
    let images = read_values(ReplayBuffer::noise(16, config.image_shape(), &cpu)).await.unwrap();
    let bytes = model_bytes(&net, shape).await.unwrap();
    let dims = [16, config.channels, config.image_size, config.image_size];
    let run = |device: Device, baked: bool| {
        let net = load_model(shape, &bytes, &device).unwrap();
        let net = if baked { net.baked() } else { net };
        let x = Tensor::<4>::from_data(TensorData::new(images.clone(), dims), &device);
        let leaf = x.detach().autodiff().require_grad();
        let energy = match &levels {
            Some(l) => net.forward_at(leaf.clone(), &Tensor::<1, Int>::from_data(TensorData::new(l.clone(), [l.len()]), &device)).neg(),
            None => net.energy(leaf.clone()),
        };
        let grads = energy.clone().sum().backward();
        let grad = leaf.grad(&grads).expect("the input requires its gradient");
        (energy.without_autodiff(), grad)
    };
    let (e_cpu, g_cpu) = run(cpu, false);
    let (e_dev, g_dev) = run(device.clone(), baked);
    (
        read_values(e_cpu).await.unwrap(),
        read_values(g_cpu).await.unwrap(),
        read_values(e_dev).await.unwrap(),
        read_values(g_dev).await.unwrap(),
    )
}

/// Largest |a − b| relative to the largest |a| (0 when both are zero).
pub fn relative_difference(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "compared vectors differ in length");
    let scale = a.iter().fold(0f32, |m, v| m.max(v.abs()));
    let worst = a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()));
    if scale == 0.0 { worst } else { worst / scale }
}

/// Trains with the weights grown by `growth` before every iteration — energies that creep
/// away from 0 a little each step, as in a slow drift, never a jump — until an error or
/// `limit` iterations; returns the error and the largest |E| seen before it.
pub async fn drive_drift(device: &Device, guard_drift_bound: f64, growth: f32, limit: u64) -> (Option<dermaebm::TrainError>, f32) {
    use dermaebm::trainer::Fault;
    let config = EbmConfig { batch_size: 16, langevin_steps: 5, guard_drift_bound, ..tiny_config(5) };
    let mut trainer = Trainer::new(config.clone(), device).expect("valid config");
    let mut largest = 0.0f32;
    for i in 0..limit {
        trainer.inject_fault(Fault::ScaleWeights(growth));
        let real = synthetic::patterns(config.batch_size, 1, config.image_size, 0.05, i, &trainer.device());
        match trainer.step(real, None).await {
            Ok(s) => largest = largest.max(s.energy_real.abs()).max(s.energy_fake.abs()),
            Err(e) => return (Some(e), largest),
        }
    }
    (None, largest)
}

/// Injects NaN weights after 2 iterations and trains to iteration 5: returns (rollbacks, final
/// statistics finite).
pub async fn guard_recovers(device: &Device) -> (u64, bool) {
    use dermaebm::trainer::Fault;
    let config = EbmConfig { batch_size: 8, langevin_steps: 3, ..tiny_config(5) };
    let mut trainer = Trainer::new(config.clone(), device).expect("valid config");
    let mut finite = false;
    for i in 0..20u64 {
        if trainer.iteration() >= 5 {
            break;
        }
        if trainer.iteration() == 2 && trainer.rollbacks() == 0 {
            trainer.inject_fault(Fault::NanWeights);
        }
        let real = synthetic::patterns(config.batch_size, 1, config.image_size, 0.05, i, &trainer.device());
        let s = trainer.step(real, None).await.expect("one fault must not stop training");
        finite = s.is_finite() && !s.rolled_back;
    }
    (trainer.rollbacks(), finite && trainer.iteration() >= 5)
}

/// CD iterations of the class-conditional test.
pub const CONDITIONAL_ITERATIONS: usize = 60;

/// The tiny config, class-conditional over the synthetic patterns.
pub fn conditional_config(seed: u64) -> EbmConfig {
    // Width 16: at 8 the classifier head learns too slowly to tell four patterns apart.
    EbmConfig { classes: synthetic::PATTERNS, width: 16, ..tiny_config(seed) }
}

/// A labelled batch of the synthetic patterns (label = pattern index).
pub fn labelled_patterns(config: &EbmConfig, seed: u64, device: &Device) -> (dermaebm::Tensor<4>, Vec<i32>) {
    use burn::tensor::TensorData;
    let (n, c, s) = (config.batch_size, config.channels, config.image_size);
    let (values, labels) = synthetic::labelled_pattern_values(n, c, s, 0.05, seed);
    (dermaebm::Tensor::from_data(TensorData::new(values, [n, c, s, s]), device), labels)
}

#[derive(Debug)]
pub struct ConditionalReport {
    pub untrained_sample_accuracy: f64,
    pub sample_accuracy: f64,
    pub classifier_accuracy: f64,
}

/// Share of `per_class` fresh samples of each class that the nearest-pattern check assigns to
/// the class they were drawn for.
async fn sample_accuracy(model: &EnergyNet, config: &EbmConfig, device: &Device, per_class: usize) -> f64 {
    use dermaebm::inference::generate;
    use dermaebm::sampler::LangevinParams;
    let params = LangevinParams { steps: 60, ..LangevinParams::from(config) };
    let pixels = config.channels * config.image_size * config.image_size;
    let mut right = 0;
    for k in 0..config.classes {
        device.seed(100 + k as u64);
        let out = generate(model, per_class, config.image_shape(), &params.into(), None, Some(k), device).await.expect("samples");
        right +=
            out.samples.chunks_exact(pixels).filter(|img| synthetic::nearest_pattern(img, config.channels, config.image_size) == k).count();
    }
    right as f64 / (per_class * config.classes) as f64
}

/// Trains the conditional tiny config and measures its samples and its classifier.
pub async fn conditional_run(device: &Device, iterations: usize) -> ConditionalReport {
    use dermaebm::inference::{argmax_rows, class_probabilities};
    let config = conditional_config(7);
    let mut trainer = Trainer::new(config.clone(), device).expect("valid config");
    let untrained_sample_accuracy = sample_accuracy(trainer.model(), &config, &trainer.device(), 16).await;
    for i in 0..iterations {
        let (real, labels) = labelled_patterns(&config, i as u64, &trainer.device());
        let stats = trainer.step(real, Some(&labels)).await.expect("training step");
        assert!(stats.is_finite(), "iteration {i}: {stats:?}");
    }
    let sample_accuracy = sample_accuracy(trainer.model(), &config, &trainer.device(), 16).await;
    let (test, truth) = labelled_patterns(&config, 9999, &trainer.device());
    let predicted = argmax_rows(&class_probabilities(trainer.model(), None, test, 64).await.expect("probabilities"));
    let truth: Vec<u8> = truth.iter().map(|&t| t as u8).collect();
    let classifier_accuracy = dermaebm::metrics::Classification::of(&truth, &predicted, config.classes).accuracy;
    ConditionalReport { untrained_sample_accuracy, sample_accuracy, classifier_accuracy }
}

/// A .npy file: version `major`, dtype `descr`, `shape`, raw `data`.
pub fn npy(descr: &str, shape: &[usize], data: &[u8], fortran: bool, major: u8) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape = if dims.len() == 1 { format!("({},)", dims[0]) } else { format!("({})", dims.join(", ")) };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': {}, 'shape': {shape}, }}", if fortran { "True" } else { "False" });
    let prefix = if major == 1 { 10 } else { 12 };
    while (prefix + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY".to_vec();
    out.extend([major, 0]);
    if major == 1 {
        out.extend((header.len() as u16).to_le_bytes());
    } else {
        out.extend((header.len() as u32).to_le_bytes());
    }
    out.extend(header.as_bytes());
    out.extend(data);
    out
}

/// The field names of `export interface {name} { … }` in a TypeScript declaration file (nested
/// object types and comments skipped), to compare the JS boundary's types with the Rust structs.
pub fn ts_interface_fields(dts: &str, name: &str) -> std::collections::BTreeSet<String> {
    let start = dts.find(&format!("export interface {name} {{")).unwrap_or_else(|| panic!("client.d.ts declares no interface {name}"));
    let body = &dts[dts[start..].find('{').unwrap() + start + 1..];
    let (mut depth, mut top, mut chars) = (0usize, String::new(), body.chars().peekable());
    while let Some(c) = chars.next() {
        match c {
            '/' if chars.peek() == Some(&'*') => {
                // A doc comment: skip to its end.
                let mut last = ' ';
                for c in chars.by_ref() {
                    if last == '*' && c == '/' {
                        break;
                    }
                    last = c;
                }
            }
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            c if depth == 0 => top.push(c),
            _ => {}
        }
    }
    top.split([';', '\n']).filter_map(|f| f.split_once(':')).map(|(n, _)| n.trim().trim_end_matches('?').to_string()).collect()
}

/// The keys of a JSON object.
pub fn json_keys(value: &serde_json::Value) -> std::collections::BTreeSet<String> {
    value.as_object().expect("a JSON object").keys().cloned().collect()
}

/// The flex device has one random generator per process, and tests of one file run on
/// parallel threads: a test that seeds the device and compares runs holds this, so that no
/// other test draws from (or reseeds) the generator in between.
pub fn device_rng_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A tiny recovery-recipe config (4 levels of 6 steps) for tests natively and in the browser.
pub fn tiny_recovery_config(seed: u64) -> EbmConfig {
    let mut config = EbmConfig { channels: 1, image_size: 12, width: 8, batch_size: 32, lr: 1e-3, seed, ..EbmConfig::recovery() };
    config.recovery.levels = 4;
    config.recovery.steps = 6;
    config.recovery.warmup = 5;
    config
}

/// A level-conditioned net whose per-level (and, class-conditional, per-class) shifts and heads
/// are random: they start at 0, where every level and every class is the same energy, and a path
/// that ignored the level or dropped the label would pass unnoticed. The tables are found as the
/// parameters of the net's `Embedding`s, whatever their number of rows.
pub fn with_random_levels(net: EnergyNet) -> EnergyNet {
    use burn::module::{Module, ModuleMapper, Param};
    struct Randomise {
        /// How deep inside an `Embedding` the mapper is (0: outside).
        inside: usize,
        randomised: usize,
    }
    impl ModuleMapper for Randomise {
        fn enter_module(&mut self, _name: &str, container_type: &str) {
            if container_type == "Struct:Embedding" || self.inside > 0 {
                self.inside += 1;
            }
        }
        fn exit_module(&mut self, _name: &str, _container_type: &str) {
            self.inside = self.inside.saturating_sub(1);
        }
        fn map_float<const D: usize>(&mut self, param: Param<dermaebm::Tensor<D>>) -> Param<dermaebm::Tensor<D>> {
            if self.inside == 0 {
                return param;
            }
            self.randomised += 1;
            let t = param.val();
            let noise = dermaebm::Tensor::random(t.shape(), burn::tensor::Distribution::Normal(0.0, 0.3), &t.device());
            Param::initialized(param.id, t + noise)
        }
    }
    if net.levels() == 0 {
        return net;
    }
    // The levels' table, and the classes' beside it: five layer shifts and a head each.
    let tables = 1 + usize::from(net.classes() > 0);
    let mut randomise = Randomise { inside: 0, randomised: 0 };
    let net = net.map(&mut randomise);
    assert_eq!(randomise.randomised, 6 * tables, "every parameter of the level and class tables was randomised");
    net
}

/// A recovery walk down every level, without noise, from one seeded start with one seeded
/// level-conditioned net: on the CPU backend (the CPU Langevin path) and again on `device`
/// (same weights, same start). Returns each path's states after every level (CPU, `device`),
/// unclipped. With `classes` > 0 the net is class-conditional and each chain walks under its
/// own class (chain i under class i mod `classes`).
pub async fn recovery_walk_on_both(device: &Device, classes: usize) -> (Vec<Vec<f32>>, Vec<Vec<f32>>) {
    use burn::tensor::{Int, TensorData};
    use dermaebm::inference::read_values;
    use dermaebm::sampler::{ChainOptions, Dynamics, RecoveryChains, Walk, langevin};
    use dermaebm::weights::{load_model, model_bytes};
    let config = EbmConfig { classes, ..tiny_recovery_config(8) };
    let shape: dermaebm::model::NetShape = (&config).into();
    let cpu = Device::flex();
    cpu.seed(8);
    let net = with_random_levels(EnergyNet::new(shape, &cpu));
    let bytes = model_bytes(&net, shape).await.unwrap();
    let dims = [6, config.channels, config.image_size, config.image_size];
    let start = read_values(dermaebm::Tensor::<4>::random(dims, burn::tensor::Distribution::Normal(0.0, 1.0), &cpu)).await.unwrap();
    let Dynamics::Recovery(chains) = Dynamics::sampling(&config, None) else { unreachable!("a recovery config") };
    // Two steps a level: enough to use every level's shift, tether and rescaling, few enough
    // that float rounding (WebGPU's kernels round differently) is not amplified by the chain.
    let dynamics =
        Dynamics::Recovery(RecoveryChains { noise_scale: 0.0, steps: 2, walk: Walk::Down { top: config.recovery.levels - 1 }, ..chains });
    let mut out = Vec::new();
    for on in [cpu, device.clone()] {
        let net = load_model(shape, &bytes, &on).unwrap();
        let x = dermaebm::Tensor::<4>::from_data(TensorData::new(start.clone(), dims), &on);
        let labels = (classes > 0)
            .then(|| dermaebm::Tensor::<1, Int>::from_data(TensorData::new((0..6).map(|i| (i % classes) as i32).collect(), [6]), &on));
        let options = ChainOptions { record_every: Some(1), labels, ..Default::default() };
        let (end, frames) = langevin(&net, x, &dynamics, &options).await;
        let mut states = Vec::new();
        for frame in frames {
            states.push(read_values(frame.images).await.unwrap());
        }
        states.push(read_values(end).await.unwrap());
        out.push(states);
    }
    let device_states = out.pop().unwrap();
    (out.pop().unwrap(), device_states)
}

/// Every float parameter of `net`, flattened in visiting order (read back asynchronously, as
/// WebGPU requires).
pub async fn flat_parameters(net: &EnergyNet) -> Vec<f32> {
    use burn::module::{Module, ModuleVisitor, Param};
    use dermaebm::inference::read_values;
    struct Collect(Vec<dermaebm::Tensor<1>>);
    impl ModuleVisitor for Collect {
        fn visit_float<const D: usize>(&mut self, param: &Param<dermaebm::Tensor<D>>) {
            let t = param.val().without_autodiff();
            let n = t.shape().num_elements();
            self.0.push(t.reshape([n]));
        }
    }
    let mut collect = Collect(Vec::new());
    net.visit(&mut collect);
    let mut out = Vec::new();
    for t in collect.0 {
        out.extend(read_values(t).await.unwrap());
    }
    out
}

/// How a recovery run's moving average of the weights moved, against the rule it must follow.
#[derive(Debug)]
pub struct AverageMoved {
    /// Every iteration's statistics were finite and none was rolled back.
    pub finite: bool,
    /// The largest |change| of an averaged parameter over the run.
    pub moved: f32,
    /// How far the average's change is from ema ← d·ema + (1 − d)·weights applied after each
    /// update to the weights that update gave: the largest |difference| relative to `moved`.
    pub off_the_rule: f32,
}

/// Trains the tiny recovery config for `iterations` updates on `device`, reading the weights
/// after each, and checks the moving average the samples come from against them.
pub async fn recovery_training_on(device: &Device, iterations: u64) -> AverageMoved {
    let config = tiny_recovery_config(9);
    let decay = config.recovery.ema_decay;
    let mut trainer = Trainer::new(config.clone(), device).expect("valid config");
    let start = flat_parameters(trainer.sampling_model()).await;
    let mut expected: Vec<f64> = start.iter().map(|&v| f64::from(v)).collect();
    let mut finite = true;
    for i in 0..iterations {
        let real = synthetic::patterns(config.batch_size, 1, config.image_size, 0.05, i, &trainer.device());
        let s = trainer.step(real, None).await.expect("a recovery step");
        finite &= s.is_finite() && !s.rolled_back;
        let weights = flat_parameters(trainer.model()).await;
        for (e, w) in expected.iter_mut().zip(&weights) {
            *e = decay * *e + (1.0 - decay) * f64::from(*w);
        }
    }
    let average = flat_parameters(trainer.sampling_model()).await;
    assert_eq!(average.len(), expected.len(), "the average has the net's parameters");
    let moved = average.iter().zip(&start).map(|(a, s)| (a - s).abs()).fold(0.0, f32::max);
    let off = average.iter().zip(&expected).map(|(a, e)| (f64::from(*a) - e).abs()).fold(0.0, f64::max);
    AverageMoved { finite, moved, off_the_rule: off as f32 / moved.max(f32::MIN_POSITIVE) }
}

/// A masked Langevin chain (the contrastive dynamics) on `device`, from noise, free on the left
/// half of each image: whether the kept pixels stayed bit-identical, and whether the free ones
/// moved. What inpainting relies on, checked on the sampler's own output.
pub async fn masked_chain(device: &Device) -> (bool, bool) {
    use burn::tensor::{Bool, TensorData};
    use dermaebm::inference::read_values;
    use dermaebm::sampler::{ChainOptions, LangevinParams, langevin};
    let config = tiny_config(9);
    let net = EnergyNet::new((&config).into(), device);
    let start = ReplayBuffer::noise(2, config.image_shape(), device);
    let s = config.image_size;
    let free: Vec<bool> = (0..2 * s * s).map(|i| (i % s) < s / 2).collect();
    let mask = dermaebm::Tensor::<4, Bool>::from_data(TensorData::new(free.clone(), [2, 1, s, s]), device);
    let options = ChainOptions { free: Some(mask), ..Default::default() };
    let (end, _) = langevin(&net, start.clone(), &LangevinParams::from(&config).into(), &options).await;
    let (a, b) = (read_values(start).await.unwrap(), read_values(end).await.unwrap());
    let kept = a.iter().zip(&b).zip(&free).filter(|(_, f)| !**f).all(|((x, y), _)| x.to_bits() == y.to_bits());
    let moved = a.iter().zip(&b).zip(&free).filter(|(_, f)| **f).any(|((x, y), _)| x != y);
    (kept, moved)
}

/// `n` synthetic pattern images of `config`'s channels and size as a loaded (unlabelled) shard.
pub fn pattern_dataset(config: &EbmConfig, n: usize, seed: u64) -> dermaebm::data::Dataset {
    let (c, s) = (config.channels, config.image_size);
    // The patterns come as [N, C, H, W] values; a shard holds H×W×C bytes.
    let values = synthetic::pattern_values(n, c, s, 0.05, seed);
    let mut pixels = vec![0u8; values.len()];
    for (i, v) in values.iter().enumerate() {
        let (image, rest) = (i / (c * s * s), i % (c * s * s));
        let (channel, pixel) = (rest / (s * s), rest % (s * s));
        pixels[image * c * s * s + pixel * c + channel] = ((v + 1.0) * 127.5).round() as u8;
    }
    let shape: Vec<usize> = if c == 1 { vec![n, s, s] } else { vec![n, s, s, c] };
    let images = npy("|u1", &shape, &pixels, false, 1);
    dermaebm::data::Dataset::load(&[("train_images.npy", images.as_slice())], dermaebm::data::Limits::default()).expect("the patterns load")
}
