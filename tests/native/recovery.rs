//! The recovery-likelihood recipe: its noise schedule against the authors' (as the PyTorch
//! prototype computes it), training that learns, the moving average of the weights, checkpoints
//! that resume it, and samples that walk the levels from noise.
#![cfg(not(target_arch = "wasm32"))]

use dermaebm::checkpoint::{self, Contents};
use dermaebm::inference::generate;
use dermaebm::platform::block_on;
use dermaebm::recovery::NoiseSchedule;
use dermaebm::sampler::Dynamics;
use dermaebm::weights::WeightsFile;
use dermaebm::{Device, EbmConfig, EnergyNet, Trainer, synthetic};

use crate::common::tiny_recovery_config as tiny_recovery;

fn train(config: &EbmConfig, iterations: u64, device: &Device) -> Trainer {
    let mut trainer = Trainer::new(config.clone(), device).expect("valid config");
    for i in 0..iterations {
        let real = synthetic::patterns(config.batch_size, config.channels, config.image_size, 0.05, i, &trainer.device());
        let stats = block_on(trainer.step(real, None)).expect("a training step");
        assert!(stats.is_finite() && !stats.rolled_back, "iteration {i}: {stats:?}");
    }
    trainer
}

fn parameters(net: &EnergyNet) -> Vec<f32> {
    use burn::module::{Module, ModuleVisitor, Param};
    struct All(Vec<f32>);
    impl ModuleVisitor for All {
        fn visit_float<const D: usize>(&mut self, param: &Param<dermaebm::Tensor<D>>) {
            self.0.extend(param.val().into_data().convert::<f32>().try_to_vec::<f32>().unwrap());
        }
    }
    let mut all = All(Vec::new());
    net.visit(&mut all);
    all.0
}

/// The numbers the prototype (`../shared/bench/torch_drl_ref.py`, the authors' schedule) prints
/// for T = 6: a_s, sigmas and s_cum; and its step size s_t² = (σ̄_t/σ̄₀)·b²·σ²_{t+1}.
#[test]
fn the_schedule_is_the_authors() {
    let s = NoiseSchedule::new(6, 2e-4);
    let close = |got: &[f32], want: &[f32]| got.len() == want.len() && got.iter().zip(want).all(|(g, w)| (g - w).abs() < 2e-6);
    assert!(close(&s.a, &[0.99995, 0.9461665, 0.85629, 0.7747962, 0.7009177, 0.6339561, 0.0227764]), "{:?}", s.a);
    assert!(close(&s.sigma, &[0.01, 0.3236802, 0.5164953, 0.6322111, 0.7132421, 0.773369, 0.9997406]), "{:?}", s.sigma);
    assert!(close(&s.sigma_cum, &[0.01, 0.3238185, 0.5862193, 0.7784529, 0.8980134, 0.9603142, 0.9999798]), "{:?}", s.sigma_cum);
    let step0 = 2e-4 * 0.3236802f32 * 0.3236802;
    assert!((s.step_size[0] - step0).abs() < 1e-9, "{}", s.step_size[0]);
    assert!((s.step_size[5] - 0.9603142 / 0.01 * 2e-4 * 0.9997406 * 0.9997406).abs() < 1e-6);
    // The last level has no tether and no rescaling: it is the marginal energy of x_T.
    let last = s.step(5, 1.0);
    assert_eq!((last.tether, last.rescale), (0.0, 1.0));
    assert!(s.step(0, 1.0).tether > 0.0 && (s.step(0, 1.0).rescale - 1.0 / 0.9461665).abs() < 1e-6);
    // Denoising: light noise starts low, heavy noise high.
    assert_eq!(s.level_for_noise(0.0), 0);
    assert_eq!(s.level_for_noise(0.35), 1);
    assert_eq!(s.level_for_noise(10.0), 5);
}

/// AUROC of clean patterns against the same patterns with Gaussian noise of level 1's size,
/// under the energy of level 0 (what that level learns: the data is likelier than its noisy
/// neighbourhood).
fn clean_vs_noisy_auroc(net: &EnergyNet, config: &EbmConfig, device: &Device) -> f64 {
    use dermaebm::inference::energies;
    use dermaebm::metrics::auroc_lower_is_positive;
    let clean = synthetic::patterns(256, config.channels, config.image_size, 0.05, 1234, device);
    device.seed(77);
    let sigma = NoiseSchedule::new(config.recovery.levels, config.recovery.step_factor).sigma[1] as f64;
    let noisy = clean.clone() + dermaebm::Tensor::random(clean.shape(), burn::tensor::Distribution::Normal(0.0, sigma), device);
    let e_clean = block_on(energies(net, clean, 256)).unwrap();
    let e_noisy = block_on(energies(net, noisy, 256)).unwrap();
    auroc_lower_is_positive(&e_clean, &e_noisy).unwrap()
}

/// A few hundred updates make the energy of level 0 prefer the training patterns to their noisy
/// versions, which the untrained net cannot tell apart.
#[test]
fn recovery_training_learns_the_data() {
    let device = Device::flex();
    let config = tiny_recovery(3);
    let untrained = Trainer::new(config.clone(), &device).unwrap();
    let before = clean_vs_noisy_auroc(untrained.sampling_model(), &config, &device);
    let trainer = train(&config, 600, &device);
    let after = clean_vs_noisy_auroc(trainer.sampling_model(), &config, &device);
    assert!(after > 0.95 && after > before + 0.2, "AUROC clean vs noisy patterns {before:.3} → {after:.3}");
}

/// The average follows ema ← d·ema + (1 − d)·weights after each update: with d = 0 it is the
/// net itself, with d = 0.5 it is halfway between the start and one update later.
#[test]
fn the_moving_average_follows_the_weights() {
    let device = Device::flex();
    let mut config = tiny_recovery(4);
    config.recovery.ema_decay = 0.0;
    let trainer = train(&config, 2, &device);
    assert_eq!(parameters(trainer.sampling_model()), parameters(trainer.model()));

    config.recovery.ema_decay = 0.5;
    let start = parameters(Trainer::new(config.clone(), &device).unwrap().model());
    let trainer = train(&config, 1, &device);
    let (now, average) = (parameters(trainer.model()), parameters(trainer.sampling_model()));
    assert_ne!(now, start, "the update moved the weights");
    let worst = average.iter().zip(start.iter().zip(&now)).fold(0.0f32, |m, (a, (s, n))| m.max((a - 0.5 * (s + n)).abs()));
    assert!(worst < 1e-6, "the average is off by {worst}");
}

/// A checkpoint keeps the average as its `model` (what samples use) and the trained weights and
/// Adam's state beside it; restored, both come back and training goes on.
#[test]
fn a_checkpoint_resumes_the_weights_and_their_average() {
    let device = Device::flex();
    let config = tiny_recovery(5);
    let trainer = train(&config, 3, &device);
    let bytes = block_on(checkpoint::save(&trainer, Contents { optimizer: true, buffer: true, newest_chains: None }, "test")).unwrap();
    let file = WeightsFile::decode(&bytes).unwrap();
    assert!(file.section(dermaebm::weights::section::TRAINING_MODEL).is_some());
    assert_eq!(parameters(&file.model(&device).unwrap()), parameters(trainer.sampling_model()), "the file's model is the average");
    let mut resumed = checkpoint::restore(&file, config.clone(), &device).unwrap();
    assert_eq!(resumed.iteration(), 3);
    assert_eq!(parameters(resumed.model()), parameters(trainer.model()));
    assert_eq!(parameters(resumed.sampling_model()), parameters(trainer.sampling_model()));
    let real = synthetic::patterns(config.batch_size, 1, config.image_size, 0.05, 99, &resumed.device());
    assert!(block_on(resumed.step(real, None)).unwrap().is_finite());
}

/// Samples from noise walk every level, recorded T → 0, and end in [-1, 1].
#[test]
fn samples_walk_the_levels_from_noise() {
    let device = Device::flex();
    let config = tiny_recovery(6);
    let trainer = train(&config, 2, &device);
    let dynamics = Dynamics::sampling(&config, None);
    assert_eq!(dynamics.total_steps(), 4 * 6);
    let out = block_on(generate(trainer.sampling_model(), 5, config.image_shape(), &dynamics, Some(1), None, &device)).unwrap();
    let levels: Vec<Option<usize>> = out.chain.iter().map(|f| f.level).collect();
    assert_eq!(levels, [Some(4), Some(3), Some(2), Some(1), Some(0)]);
    assert_eq!(out.chain.iter().map(|f| f.step).collect::<Vec<_>>(), [0, 6, 12, 18, 24]);
    assert!(out.samples.iter().all(|v| (-1.0..=1.0).contains(v)));
    // The start is N(0, I): far wider than [-1, 1].
    let start = &out.chain[0].values;
    let std = (start.iter().map(|v| v * v).sum::<f32>() / start.len() as f32).sqrt();
    assert!((0.8..1.2).contains(&std), "start std {std}");
}

/// Spectral normalisation divides a layer by its largest singular value: the normalised layer's
/// is 1 (checked with a long power iteration on the host), whatever the layer's scale.
#[test]
fn spectral_normalisation_leaves_a_largest_singular_value_of_one() {
    use dermaebm::model::spectral::normalised;
    let device = Device::flex();
    device.seed(3);
    for (shape, scale) in [([32usize, 16, 3, 3], 1.0f32), ([64, 48, 1, 1], 25.0), ([5, 7, 5, 5], 0.01)] {
        let w = dermaebm::Tensor::<4>::random(shape, burn::tensor::Distribution::Normal(0.0, 1.0), &device) * scale;
        let n = normalised(w);
        let (rows, cols) = (shape[0], shape[1] * shape[2] * shape[3]);
        let m: Vec<f32> = n.into_data().try_to_vec::<f32>().unwrap();
        let mut v = vec![1.0f32; cols];
        let mut sigma = 0.0;
        for _ in 0..500 {
            let u: Vec<f32> = (0..rows).map(|r| (0..cols).map(|c| m[r * cols + c] * v[c]).sum()).collect();
            let un = u.iter().map(|x| x * x).sum::<f32>().sqrt();
            v = (0..cols).map(|c| (0..rows).map(|r| m[r * cols + c] * u[r] / un).sum()).collect();
            sigma = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            v.iter_mut().for_each(|x| *x /= sigma);
        }
        assert!((sigma - 1.0).abs() < 0.01, "{shape:?} ×{scale}: largest singular value {sigma} after normalising");
    }
}

/// A spectrally normalised net samples with its weights normalised once (`baked`): the same
/// energy as the net that normalises at every forward.
#[test]
fn a_baked_net_computes_the_same_energy() {
    use dermaebm::inference::energies;
    let device = Device::flex();
    let config = tiny_recovery(12);
    assert!(config.spectral_norm, "the recovery preset normalises");
    let net = EnergyNet::new((&config).into(), &device);
    let x = synthetic::patterns(8, 1, config.image_size, 0.05, 3, &device);
    let a = block_on(energies(&net, x.clone(), 8)).unwrap();
    let b = block_on(energies(&net.baked(), x, 8)).unwrap();
    let worst = a.iter().zip(&b).fold(0.0f32, |m, (p, q)| m.max((p - q).abs()));
    assert!(worst < 1e-5, "baked and live energies differ by {worst}");
    assert!(!net.baked().has_spectral_norm());
}

/// A walk down to level 0 ends with one step up f(a₁x, 0): the level-0 energy of the samples
/// drops by it, with a step small enough to stay first-order; kept pixels (a mask) stay put.
/// The level-0 gradient of this barely trained net is ~5e-4 per pixel: a drift of 1 moves a
/// pixel by that much, and a drift of 1e-3 moved the energy by less than f32 resolves at 1.6.
#[test]
fn a_walk_ends_with_a_denoising_step_down_the_level_0_energy() {
    use burn::tensor::{Distribution, Int, TensorData};
    use dermaebm::sampler::{ChainOptions, RecoveryChains, Walk, final_step, langevin};
    let device = Device::flex();
    let config = tiny_recovery(8);
    let net = crate::common::with_random_levels(train(&config, 2, &device).sampling_model().clone());
    let Dynamics::Recovery(sampling) = Dynamics::sampling(&config, None) else { unreachable!("a recovery config") };
    let level_0_energy = |x: &dermaebm::Tensor<4>| -> f32 {
        let n = x.dims()[0];
        let zeros = dermaebm::Tensor::<1, Int>::from_data(TensorData::new(vec![0i32; n], [n]), &device);
        let f = net.forward_at(x.clone() * sampling.schedule.input_scale(0), &zeros);
        -f.sum().into_scalar::<f32>()
    };
    let start = dermaebm::Tensor::<4>::random([6, 1, 12, 12], Distribution::Normal(0.0, 1.0), &device);
    let walk = |final_drift: f32| {
        let chains = RecoveryChains { noise_scale: 0.0, final_drift, walk: Walk::Down { top: 3 }, ..sampling.clone() };
        block_on(langevin(&net, start.clone(), &Dynamics::Recovery(chains), &ChainOptions::default())).0
    };
    let plain = walk(0.0);
    let stepped = walk(1.0);
    let moved: f32 = (stepped.clone() - plain.clone()).abs().max().into_scalar::<f32>();
    assert!(moved > 0.0, "the final step moved the samples");
    assert!(level_0_energy(&stepped) < level_0_energy(&plain), "and down the level-0 energy");
    // With a mask, only the free pixels take it.
    let free = dermaebm::Tensor::<4>::random([6, 1, 12, 12], Distribution::Uniform(0.0, 1.0), &device).greater_elem(0.5);
    let chains = RecoveryChains { final_drift: 1e-3, ..sampling.clone() };
    let masked = block_on(final_step(&net, plain.clone(), &chains, Some(&free)));
    let kept = masked.clone().mask_where(free.clone(), plain.clone());
    assert_eq!(
        kept.into_data().try_to_vec::<f32>().unwrap(),
        plain.clone().into_data().try_to_vec::<f32>().unwrap(),
        "kept pixels stay bit-identical"
    );
    let free_moved: f32 = (masked - plain).abs().max().into_scalar::<f32>();
    assert!(free_moved > 0.0, "free pixels move");
}

/// A class-conditional recovery net made from an unconditional one starts as that net for every
/// class (its class rows are 0), and f(y, t) is its "any class" row.
#[test]
fn a_level_net_made_conditional_starts_as_the_same_energy_for_every_class() {
    use burn::tensor::{Int, TensorData};
    let device = Device::flex();
    device.seed(21);
    let config = EbmConfig { width: 16, ..EbmConfig::recovery() };
    let net = crate::common::with_random_levels(EnergyNet::new(dermaebm::NetShape::from(&config), &device));
    let x = dermaebm::Tensor::<4>::random([4, 3, 28, 28], burn::tensor::Distribution::Uniform(-1.0, 1.0), &device);
    let ints = |v: Vec<i32>| dermaebm::Tensor::<1, Int>::from_data(TensorData::new(v, [4]), &device);
    let levels = ints(vec![0, 2, 3, 5]);
    let values = |t: dermaebm::Tensor<1>| t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap();
    let before = values(net.forward_at(x.clone(), &levels));
    let conditional = net.into_conditional(7);
    assert_eq!((conditional.classes(), conditional.head_classes()), (7, 0), "classes are an embedding, not logits");
    for k in [0, 3, 6] {
        let f = values(conditional.forward_at_given(x.clone(), &levels, Some(&ints(vec![k; 4]))));
        assert_eq!(f, before, "class {k}");
    }
    assert_eq!(values(conditional.forward_at(x.clone(), &levels)), before, "any class");
    // Once the class rows differ, so do the classes' energies, and "any class" is row 7.
    let trained = crate::common::with_random_levels(conditional);
    let of = |k: i32| values(trained.forward_at_given(x.clone(), &levels, Some(&ints(vec![k; 4]))));
    assert_ne!(of(0), of(3));
    assert_eq!(values(trained.forward_at(x.clone(), &levels)), of(7));
}

/// The rows of the class tables (shifts and head) of a class-conditional level net with
/// `classes` classes that are not all zero (row `classes` is "any class").
fn moved_class_rows(net: &EnergyNet, classes: usize) -> Vec<usize> {
    use burn::module::{Module, ModuleVisitor, Param};
    struct Rows(usize, std::collections::BTreeSet<usize>);
    impl ModuleVisitor for Rows {
        fn visit_float<const D: usize>(&mut self, param: &Param<dermaebm::Tensor<D>>) {
            let dims = param.dims();
            // The class tables are the only [classes + 1, c] parameters of these nets.
            if D == 2 && dims[0] == self.0 {
                let values = param.val().into_data().convert::<f32>().try_to_vec::<f32>().unwrap();
                for (row, v) in values.chunks_exact(dims[1]).enumerate() {
                    if v.iter().any(|&x| x != 0.0) {
                        self.1.insert(row);
                    }
                }
            }
        }
    }
    let mut rows = Rows(classes + 1, Default::default());
    net.visit(&mut rows);
    rows.1.into_iter().collect()
}

/// Training with labels moves the rows of the classes in the batch and, for the unlabelled share
/// of the images, the "any class" row — nothing else; the chains and the loss take the classes.
#[test]
fn class_conditional_recovery_trains_the_rows_of_the_labels_it_sees() {
    let device = Device::flex();
    for (fraction, expected) in [(0.0, vec![0, 2]), (1.0, vec![4]), (0.5, vec![0, 2, 4])] {
        let mut config = EbmConfig { classes: 4, ..tiny_recovery(9) };
        config.recovery.unlabelled_fraction = fraction;
        let mut trainer = Trainer::new(config.clone(), &device).expect("recovery with classes is a valid configuration");
        assert!(moved_class_rows(trainer.model(), 4).is_empty(), "every class starts as the same energy");
        for i in 0..3 {
            let (real, labels) = crate::common::labelled_patterns(&config, i, &trainer.device());
            // Classes 0 and 2 only.
            let labels: Vec<i32> = labels.iter().map(|&k| (k % 2) * 2).collect();
            let stats = block_on(trainer.step(real, Some(&labels))).expect("a training step");
            assert!(stats.is_finite());
        }
        assert_eq!(moved_class_rows(trainer.model(), 4), expected, "unlabelled fraction {fraction}");
        assert_eq!(moved_class_rows(trainer.sampling_model(), 4), expected, "the moving average follows");
        let missing = block_on(trainer.step(crate::common::labelled_patterns(&config, 9, &trainer.device()).0, None));
        assert!(missing.is_err(), "a class-conditional run needs its labels");
    }
}
