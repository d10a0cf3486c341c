//! The denoising recipe's energy: the residual net's hand-written input gradient against
//! autodiff, the loss's weight gradient against finite differences of the loss, the energy and
//! its denoiser against each other, training that keeps the data statistics fixed and lowers
//! the loss, and the walk.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::{Distribution, TensorData};
use dermaebm::denoising::{DataStatistics, walk_sigmas};
use dermaebm::inference::read_values;
use dermaebm::model::ResidualNet;
use dermaebm::{Device, EbmConfig, EnergyNet, NetShape, Tensor};

use crate::common::relative_difference;

/// A small denoising configuration: 1-channel 8×8 images, width 4, two stages of one block.
pub fn tiny_denoising_config(seed: u64) -> EbmConfig {
    let mut config = EbmConfig { channels: 1, image_size: 8, width: 4, batch_size: 16, lr: 3e-3, seed, ..EbmConfig::denoising() };
    config.denoising.stages = 2;
    config.denoising.blocks = 1;
    config.denoising.embedding = 8;
    config.denoising.warmup = 5;
    config
}

/// Every weight of `net` moved by Gaussian noise of `scale`: the zero-initialised second
/// convolutions (and class table) otherwise hide any term of the gradient that passes them.
fn randomised(net: ResidualNet, scale: f32) -> ResidualNet {
    struct Noise(f32);
    impl ModuleMapper for Noise {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let t = param.val();
            let noise = Tensor::random(t.shape(), Distribution::Normal(0.0, self.0 as f64), &t.device());
            // A leaf again, tracked when the net is on the autodiff device.
            let moved = (t.clone() + noise).detach();
            Param::initialized(param.id, if t.is_autodiff() { moved.require_grad() } else { moved })
        }
    }
    let stats = DataStatistics { mean: vec![0.1; net.data_statistics_tensors().0.dims()[0]], std: 0.4 };
    net.map(&mut Noise(scale)).with_data_statistics(&stats)
}

fn residual(config: &EbmConfig, device: &Device) -> ResidualNet {
    match EnergyNet::new(NetShape::from(config), device) {
        EnergyNet::Residual(net) => net,
        EnergyNet::Conv(_) => panic!("a denoising configuration builds a residual net"),
    }
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_to_vec::<f32>().expect("floats")
}

#[test]
fn the_written_input_gradient_is_autodiffs() {
    let _lock = crate::common::device_rng_lock();
    let device = Device::flex();
    device.seed(3);
    let mut config = tiny_denoising_config(3);
    config.denoising.blocks = 2;
    config.classes = 3;
    let net = randomised(residual(&config, &device), 0.3);
    let u = Tensor::<4>::random([5, 1, 8, 8], Distribution::Normal(0.0, 1.0), &device);
    let c_noise = Tensor::<1>::from_data(TensorData::new(vec![-1.0f32, -0.3, 0.0, 0.4, 0.9], [5]), &device);
    let labels = Tensor::<1, burn::tensor::Int>::from_data(TensorData::new(vec![0i32, 1, 2, 3, 1], [5]), &device);
    let e = net.embed(c_noise, Some(&labels));
    let (h, written) = net.energy_and_gradient(u.clone(), e.clone());

    let leaf = u.detach().autodiff().require_grad();
    let h_ad = net.h(leaf.clone(), e).0;
    let grads = h_ad.clone().sum().backward();
    let exact = leaf.grad(&grads).expect("the input's gradient");
    let (written, exact) = (values(written), values(exact));
    assert!(exact.iter().map(|v| v.abs()).sum::<f32>() > 1e-3, "the input gradient is not trivially zero");
    let diff = relative_difference(&exact, &written);
    assert!(diff < 1e-4, "written ∇ᵤH differs from autodiff's by {diff}");
    assert!(relative_difference(&values(h_ad), &values(h)) < 1e-5, "H itself differs");
}

#[test]
fn the_loss_weight_gradient_matches_finite_differences() {
    let _lock = crate::common::device_rng_lock();
    let device = Device::flex();
    device.seed(11);
    let config = tiny_denoising_config(11);
    let ad = device.clone().autodiff();
    let net = randomised(residual(&config, &ad), 0.2);
    let x0 = Tensor::<4>::random([6, 1, 8, 8], Distribution::Uniform(-1.0, 1.0), &device);
    let noise = Tensor::<4>::random([6, 1, 8, 8], Distribution::Normal(0.0, 1.0), &device);
    let sigma = Tensor::<1>::from_data(TensorData::new(vec![0.01f32, 0.1, 0.3, 1.0, 3.0, 20.0], [6]), &device);
    let loss = |net: &ResidualNet| net.score_matching_loss(x0.clone(), sigma.clone(), noise.clone(), None).mean();

    // ⟨∇θL, v⟩ for a random direction v over every trainable weight, against
    // (L(θ + εv) − L(θ − εv)) / 2ε.
    let grads = GradientsParams::from_grads(loss(&net).backward(), &net);
    struct Direction<'a> {
        grads: &'a GradientsParams,
        dot: f64,
        dirs: Vec<Vec<f32>>,
    }
    impl ModuleVisitor for Direction<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let Some(g) = self.grads.get::<D>(param.id) else {
                self.dirs.push(Vec::new());
                return;
            };
            let v = Tensor::<D>::random(g.shape(), Distribution::Normal(0.0, 1.0), &g.device());
            self.dot += values(g * v.clone()).iter().map(|&x| f64::from(x)).sum::<f64>();
            self.dirs.push(values(v));
        }
    }
    let mut dir = Direction { grads: &grads, dot: 0.0, dirs: Vec::new() };
    net.visit(&mut dir);
    assert!(dir.dirs.iter().filter(|d| !d.is_empty()).count() > 10, "most weights have a gradient");
    struct Shift<'a>(std::slice::Iter<'a, Vec<f32>>, f32);
    impl ModuleMapper for Shift<'_> {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let v = self.0.next().expect("one direction per parameter");
            if v.is_empty() {
                return param;
            }
            let t = param.val();
            let step = Tensor::<D>::from_data(TensorData::new(v.clone(), t.shape()), &t.device()) * self.1;
            Param::initialized(param.id, t + step)
        }
    }
    let plain = net.valid();
    let eps = 1e-3;
    let up = plain.clone().map(&mut Shift(dir.dirs.iter(), eps));
    let down = plain.map(&mut Shift(dir.dirs.iter(), -eps));
    let difference = (f64::from(values(loss(&up))[0]) - f64::from(values(loss(&down))[0])) / (2.0 * f64::from(eps));
    let error = (difference - dir.dot).abs() / dir.dot.abs();
    assert!(dir.dot.abs() > 1e-3, "the directional derivative is not trivially zero ({})", dir.dot);
    assert!(error < 2e-2, "⟨∇L, v⟩ = {} by autodiff, {difference} by finite differences (relative error {error})", dir.dot);
}

#[test]
fn the_denoiser_is_the_energys_gradient() {
    let _lock = crate::common::device_rng_lock();
    let device = Device::flex();
    device.seed(5);
    let config = tiny_denoising_config(5);
    let net = randomised(residual(&config, &device), 0.3);
    let x = Tensor::<4>::random([4, 1, 8, 8], Distribution::Normal(0.0, 1.0), &device);
    let sigma = Tensor::<1>::from_data(TensorData::new(vec![0.05f32, 0.5, 2.0, 10.0], [4]), &device);
    let written = net.energy_gradient(x.clone(), sigma.clone(), None);

    let leaf = x.detach().autodiff().require_grad();
    let energy = net.energy(leaf.clone(), sigma, None);
    let exact = leaf.grad(&energy.sum().backward()).expect("the input's gradient");
    let diff = relative_difference(&values(exact), &values(written));
    assert!(diff < 1e-3, "(x − D)/σ² differs from ∇ₓE by {diff}");
}

#[test]
fn at_large_sigma_the_denoiser_gives_the_mean() {
    let device = Device::flex();
    let config = tiny_denoising_config(2);
    let stats = DataStatistics { mean: vec![0.3], std: 0.5 };
    let net = residual(&config, &device).with_data_statistics(&stats);
    let x = Tensor::<4>::random([3, 1, 8, 8], Distribution::Normal(0.0, 500.0), &device);
    let sigma = Tensor::<1>::from_data(TensorData::new(vec![500.0f32; 3], [3]), &device);
    let d = values(net.denoised(x, sigma, None));
    let worst = d.iter().fold(0f32, |m, v| m.max((v - 0.3).abs()));
    assert!(worst < 0.1, "D(x; 500) is μ = 0.3 up to {worst}");
}

#[test]
fn data_statistics_are_the_images_channel_means_and_spread() {
    // Two pixels of two channels: channel 0 at -1 and 1, channel 1 at 0 and 0 (bytes 0/255/127.5).
    let stats = DataStatistics::of_bytes(&[0, 128, 255, 128], 2);
    assert!((stats.mean[0] - 0.0).abs() < 1e-6, "{:?}", stats.mean);
    assert!((stats.mean[1] - (128.0 / 127.5 - 1.0)).abs() < 1e-6, "{:?}", stats.mean);
    // Σ(x − μ)² = 1 + 1 + 0 + 0 over 4 values.
    assert!((stats.std - 0.5f32.sqrt()).abs() < 1e-5, "{}", stats.std);
}

#[test]
fn the_walk_passes_its_levels_down_to_zero() {
    let s = walk_sigmas(18, 0.002, 20.0);
    assert_eq!(s.len(), 19);
    assert!((s[0] - 20.0).abs() < 1e-9 && (s[17] - 0.002).abs() < 1e-12 && s[18] == 0.0, "{s:?}");
    assert!(s.windows(2).all(|w| w[0] > w[1]), "strictly down: {s:?}");
}

#[test]
fn a_new_run_centres_by_its_data_and_training_keeps_it() {
    use dermaebm::training_run::{Origin, TrainingRun};
    let _lock = crate::common::device_rng_lock();
    let device = Device::flex();
    let config = tiny_denoising_config(4);
    let data = std::sync::Arc::new(crate::common::pattern_dataset(&config, 64, 4));
    let expected = {
        let images = data.split(data.training_split()).expect("a training split");
        DataStatistics::of_bytes(&images.pixels, images.channels)
    };
    let mut run = TrainingRun::start(config, Origin::Fresh, data, &device).expect("a run starts");
    let mut losses = Vec::new();
    for _ in 0..120 {
        let step = dermaebm::platform::block_on(run.next()).expect("an iteration");
        losses.push(step.stats.loss);
    }
    for net in [run.trainer().model(), run.trainer().sampling_model()] {
        let (mean, std) = net.residual().expect("a residual net").data_statistics_tensors();
        let (mean, std) = (values(mean), values(std));
        assert!((mean[0] - expected.mean[0]).abs() < 1e-5, "μ {mean:?} moved from {:?}", expected.mean);
        assert!((std[0] - expected.std).abs() < 1e-5, "σ_d {std:?} moved from {}", expected.std);
    }
    let first: f32 = losses[..10].iter().sum::<f32>() / 10.0;
    let last: f32 = losses[110..].iter().sum::<f32>() / 10.0;
    assert!(last < 0.8 * first, "the loss falls: {first} over the first 10 updates, {last} over the last 10");
}

#[test]
fn a_walk_from_noise_ends_in_the_images_range() {
    let _lock = crate::common::device_rng_lock();
    let device = Device::flex();
    device.seed(9);
    let config = tiny_denoising_config(9);
    let net = EnergyNet::Residual(randomised(residual(&config, &device), 0.05));
    let dynamics = dermaebm::sampler::Dynamics::sampling(&config, Some(6));
    let out = dermaebm::platform::block_on(dermaebm::inference::generate(&net, 3, config.image_shape(), &dynamics, Some(1), None, &device))
        .expect("samples");
    let levels: Vec<Option<usize>> = out.chain.iter().map(|f| f.level).collect();
    assert_eq!(levels, (0..=6).rev().map(Some).collect::<Vec<_>>(), "the start, then every level down to 0");
    let start = &out.chain[0].values;
    let spread = (start.iter().map(|v| v * v).sum::<f32>() / start.len() as f32).sqrt();
    assert!(spread > 10.0, "the walk starts at σ_max = 20 (rms {spread})");
    assert!(out.samples.iter().all(|v| (-1.0..=1.0).contains(v)));
    let _ = read_values::<1>;
}

#[test]
fn a_walk_stops_at_the_level_its_observer_says() {
    use std::ops::ControlFlow;
    let _lock = crate::common::device_rng_lock();
    let device = Device::flex();
    let config = tiny_denoising_config(10);
    let net = EnergyNet::Residual(randomised(residual(&config, &device), 0.05));
    let dynamics = dermaebm::sampler::Dynamics::sampling(&config, Some(6));
    let mut seen = Vec::new();
    let mut observe = |frame: &dermaebm::inference::Frame| {
        seen.push(frame.level);
        let answer = if frame.level == Some(4) { ControlFlow::Break(()) } else { ControlFlow::Continue(()) };
        Box::pin(std::future::ready(answer)) as dermaebm::inference::Answer
    };
    let out = dermaebm::platform::block_on(dermaebm::inference::generate_observed(
        &net,
        2,
        config.image_shape(),
        &dynamics,
        None,
        None,
        &device,
        &mut observe,
    ));
    assert!(matches!(out, Err(dermaebm::inference::SampleError::Stopped)), "{:?}", out.map(|o| o.samples.len()));
    assert_eq!(seen, [Some(6), Some(5), Some(4)], "no level walked after the one that said stop");
}

/// The CPU path's frozen residual net (its hand-written layers, im2col + gemm, channels-last)
/// denoises as the burn module does, for a class-conditional net under each chain's class and
/// under "any class"; and its flat wire form reads back to the same net.
#[test]
fn the_frozen_net_denoises_as_the_module_does() {
    use dermaebm::sampler::cpu::{Frozen, FrozenResidual, swap_inner_axes};
    let _lock = crate::common::device_rng_lock();
    let device = Device::flex();
    device.seed(21);
    let mut config = tiny_denoising_config(21);
    config.classes = 2;
    let net = randomised(residual(&config, &device), 0.3);
    let (n, c, s) = (5, 1, 8);
    let x = Tensor::<4>::random([n, c, s, s], Distribution::Normal(0.0, 1.0), &device);
    let labels = vec![0i32, 1, 1, 0, 1];
    let label_ids = Tensor::<1, burn::tensor::Int>::from_data(TensorData::new(labels.clone(), [n]), &device);
    let frozen = FrozenResidual::of(&net, s);
    let wire = match Frozen::from_values(&Frozen::Residual(Box::new(frozen.clone())).to_values()).expect("the wire form reads back") {
        Frozen::Residual(net) => *net,
        Frozen::Conv(_) => panic!("a residual net reads back as one"),
    };
    let nhwc = swap_inner_axes(&values(x.clone()), n, c, s * s);
    for sigma in [0.01f32, 0.7, 15.0] {
        for rows in [None, Some(&labels)] {
            let sigmas = Tensor::<1>::from_data(TensorData::new(vec![sigma; n], [n]), &device);
            let expected = swap_inner_axes(&values(net.denoised(x.clone(), sigmas, rows.map(|_| &label_ids))), n, c, s * s);
            let sigmas = Tensor::<1>::from_data(TensorData::new(vec![sigma; n], [n]), &device);
            let energies = values(net.energy(x.clone(), sigmas, rows.map(|_| &label_ids)));
            for (name, frozen) in [("frozen", &frozen), ("read back", &wire)] {
                let mut got = vec![0.0; nhwc.len()];
                let got_energies = frozen.denoised(n, &nhwc, sigma, rows.map(|r| r.as_slice()), &mut got);
                let diff = relative_difference(&expected, &got);
                assert!(diff < 1e-4, "{name} net at σ {sigma}, labels {rows:?}: differs from the module by {diff}");
                let diff = relative_difference(&energies, &got_energies);
                assert!(diff < 1e-4, "{name} net at σ {sigma}, labels {rows:?}: energies differ from the module's by {diff}");
            }
        }
    }
    let mut damaged = Frozen::Residual(Box::new(frozen)).to_values();
    damaged.push(0.0);
    assert!(Frozen::from_values(&damaged).is_err(), "a value too many is refused");
    damaged.truncate(damaged.len() - 3);
    assert!(Frozen::from_values(&damaged).is_err(), "a cut-short array is refused");
}

/// A walk on the CPU path (tiles of chains, hand-written denoiser) ends where the walk of burn
/// operations does, from the same start; and split over a pool of helpers it is the same again.
#[test]
fn the_cpu_walk_is_the_burn_walk() {
    use dermaebm::sampler::cpu::{Frozen, Spec, run_chains, swap_inner_axes};
    use dermaebm::sampler::{ChainOptions, DenoisingWalk, Dynamics, langevin_autodiff};
    let _lock = crate::common::device_rng_lock();
    let device = Device::flex();
    device.seed(31);
    let config = tiny_denoising_config(31);
    let net = EnergyNet::Residual(randomised(residual(&config, &device), 0.2));
    let walk = DenoisingWalk::of(&config, Some(5));
    let (n, c, s) = (7, 1, 8);
    let start = walk.start(net.residual().unwrap(), Tensor::<4>::random([n, c, s, s], Distribution::Normal(0.0, 1.0), &device));
    let dynamics = Dynamics::Denoising(walk);
    let (burn_end, _) = dermaebm::platform::block_on(langevin_autodiff(&net, start.clone(), &dynamics, &ChainOptions::default()));
    let frozen = Frozen::of(&net, s);
    let spec = Spec { dynamics: &dynamics, target_labels: None, levels: None, free: None, record_every: Some(1), seed: 1, first_chain: 0 };
    let (cpu_end, frames) = run_chains(&frozen, &swap_inner_axes(&values(start), n, c, s * s), &spec);
    assert_eq!(frames.iter().map(|f| f.level).collect::<Vec<_>>(), (0..=5).rev().map(Some).collect::<Vec<_>>());
    let expected = swap_inner_axes(&values(burn_end), n, c, s * s);
    let diff = relative_difference(&expected, &cpu_end);
    assert!(diff < 1e-4, "the CPU walk ends {diff} away from burn's");
}

/// Composed energies walk as their definition says: class k with weight 1 is the walk under
/// label k; weight 0 is "any class"; two classes at weight 1 are E_j + E_k − E_any, which is
/// neither class alone — on both paths (burn operations and the CPU tiles).
#[test]
fn a_composed_walk_follows_the_sum_of_its_energies() {
    use dermaebm::sampler::cpu::{Frozen, Spec, run_chains, swap_inner_axes};
    use dermaebm::sampler::{ChainOptions, Composition, DenoisingWalk, Dynamics, langevin_autodiff};
    let _lock = crate::common::device_rng_lock();
    let device = Device::flex();
    device.seed(41);
    let mut config = tiny_denoising_config(41);
    config.classes = 3;
    let net = EnergyNet::Residual(randomised(residual(&config, &device), 0.3));
    let (n, c, s) = (4, 1, 8);
    let plain = DenoisingWalk::of(&config, Some(4));
    let start = plain.start(net.residual().unwrap(), Tensor::<4>::random([n, c, s, s], Distribution::Normal(0.0, 1.0), &device));
    let frozen = Frozen::of(&net, s);
    let nhwc = swap_inner_axes(&values(start.clone()), n, c, s * s);
    // (burn path, CPU path) end of a walk, as NHWC values.
    let walk = |composition: Composition, labels: Option<Vec<i32>>| {
        let dynamics = Dynamics::Denoising(DenoisingWalk { composition, ..plain.clone() });
        let label_ids = labels.clone().map(|l| Tensor::<1, burn::tensor::Int>::from_data(TensorData::new(l, [n]), &device));
        let options = ChainOptions { labels: label_ids, ..Default::default() };
        let (end, _) = dermaebm::platform::block_on(langevin_autodiff(&net, start.clone(), &dynamics, &options));
        let spec = Spec {
            dynamics: &dynamics,
            target_labels: labels.as_deref(),
            levels: None,
            free: None,
            record_every: None,
            seed: 1,
            first_chain: 0,
        };
        (swap_inner_axes(&values(end), n, c, s * s), run_chains(&frozen, &nhwc, &spec).0)
    };
    let close = |a: &[f32], b: &[f32]| relative_difference(a, b) < 1e-4;
    let any = walk(Composition::default(), None);
    let class2 = walk(Composition::default(), Some(vec![2; n]));
    let composed2 = walk(Composition::class(2, 1.0), None);
    let unguided = walk(Composition::class(2, 0.0), None);
    let both = walk(
        Composition {
            terms: vec![dermaebm::sampler::ClassTerm { class: 0, weight: 1.0 }, dermaebm::sampler::ClassTerm { class: 2, weight: 1.0 }],
        },
        None,
    );
    for (path, pick) in [("burn", 0usize), ("cpu", 1)] {
        let get = |pair: &(Vec<f32>, Vec<f32>)| if pick == 0 { pair.0.clone() } else { pair.1.clone() };
        assert!(close(&get(&class2), &get(&composed2)), "{path}: class 2 at weight 1 is the walk under label 2");
        assert!(close(&get(&any), &get(&unguided)), "{path}: weight 0 is any class");
        assert!(!close(&get(&any), &get(&class2)), "{path}: the class table matters (else the checks above prove nothing)");
        assert!(!close(&get(&both), &get(&class2)) && !close(&get(&both), &get(&any)), "{path}: two classes are neither alone");
    }
    assert!(close(&both.0, &both.1), "the two paths agree on a composed walk");
    assert!(Composition::class(3, 1.0).check(3).is_err(), "a class the net lacks is refused");
    assert!(Composition::class(1, -1.0).check(3).is_err(), "a negative weight is refused");
    assert!(Composition::class(1, 2.0).check(0).is_err(), "an unconditional net composes nothing");
}

/// The MALA corrector refuses proposals by the energies' difference: with a step far too large
/// for the level most chains stay exactly where they were, with a tiny one nearly all move.
#[test]
fn the_corrector_accepts_by_the_energy() {
    use dermaebm::sampler::cpu::{Frozen, Spec, run_chains, swap_inner_axes};
    use dermaebm::sampler::{Corrector, DenoisingWalk, Dynamics};
    let _lock = crate::common::device_rng_lock();
    let device = Device::flex();
    device.seed(43);
    let config = tiny_denoising_config(43);
    let net = EnergyNet::Residual(randomised(residual(&config, &device), 0.3));
    let n = 32;
    let frozen = Frozen::of(&net, 8);
    let start: Vec<f32> = values(Tensor::<4>::random([n, 1, 8, 8], Distribution::Uniform(-1.0, 1.0), &device));
    let start = swap_inner_axes(&start, n, 1, 64);
    // One level from σ = 0.3 to 0.2 (a piece of a walk, as a driver runs it), then the corrector.
    let base = DenoisingWalk { sigmas: vec![0.3, 0.2], ..DenoisingWalk::of(&config, Some(1)) };
    let moved = |corrector: Corrector| {
        let plain = Dynamics::Denoising(base.clone());
        let with = Dynamics::Denoising(DenoisingWalk { corrector, ..base.clone() });
        let spec = |d| Spec { dynamics: d, target_labels: None, levels: None, free: None, record_every: None, seed: 5, first_chain: 0 };
        let (a, _) = run_chains(&frozen, &start, &spec(&plain));
        let (b, _) = run_chains(&frozen, &start, &spec(&with));
        (0..n).filter(|&i| a[i * 64..(i + 1) * 64] != b[i * 64..(i + 1) * 64]).count()
    };
    // ε = 25σ² = 1: far beyond the spread of any level's energy.
    let huge = moved(Corrector { steps: 1, step_factor: 25.0 });
    let tiny = moved(Corrector { steps: 1, step_factor: 1e-4 });
    assert!(tiny >= n * 9 / 10, "a tiny step is nearly always accepted ({tiny} of {n} moved)");
    assert!(huge <= n / 4, "a step of 25σ² is mostly refused ({huge} of {n} moved)");
}

/// The residual net as safetensors (`debm export`, the site's button): written and read back it
/// gives the same energies and denoiser for every class and "any class"; its tensors are named
/// by the module's structure in PyTorch's layouts (a 3×3 conv [out, in, 3, 3], `nn.Linear`
/// [out, in]); a file missing a tensor, with one more, with another shape or with other Fourier
/// frequencies is refused naming it.
#[test]
fn a_residual_net_reads_back_from_safetensors_with_the_same_energies() {
    use dermaebm::safetensors::{SafetensorsError, from_safetensors, to_safetensors};
    use safetensors::SafeTensors;
    use safetensors::tensor::TensorView;
    let _lock = crate::common::device_rng_lock();
    let device = Device::flex();
    device.seed(11);
    let mut config = tiny_denoising_config(11);
    config.classes = 3;
    let net = randomised(residual(&config, &device).into_conditional(3), 0.3);
    let bytes = to_safetensors(&EnergyNet::Residual(net.clone()), &config).expect("export");
    let (read_config, read) = from_safetensors(&bytes, &device).expect("read back");
    assert_eq!(read_config, config);
    let EnergyNet::Residual(read) = read else { panic!("a residual net") };
    let x = Tensor::<4>::random([5, 1, 8, 8], Distribution::Normal(0.0, 0.7), &device);
    let sigma = Tensor::<1>::from_data(TensorData::new(vec![0.01f32, 0.1, 0.5, 2.0, 15.0], [5]), &device);
    for label in [None, Some(0), Some(2)] {
        let labels = label.map(|k: i32| Tensor::<1, burn::tensor::Int>::from_data(TensorData::new(vec![k; 5], [5]), &device));
        let (a, b) = (net.energy(x.clone(), sigma.clone(), labels.as_ref()), read.energy(x.clone(), sigma.clone(), labels.as_ref()));
        assert!(relative_difference(&values(a), &values(b)) < 1e-6, "energies of class {label:?}");
        let (a, b) = (net.denoised(x.clone(), sigma.clone(), labels.as_ref()), read.denoised(x.clone(), sigma.clone(), labels.as_ref()));
        assert!(relative_difference(&values(a), &values(b)) < 1e-6, "denoiser of class {label:?}");
    }

    let file = SafeTensors::deserialize(&bytes).unwrap();
    let shape = |name: &str| file.tensor(name).map(|t| t.shape().to_vec()).unwrap_or_else(|_| panic!("`{name}` is in the file"));
    assert_eq!(shape("stem.weight"), vec![4, 1, 3, 3]);
    assert_eq!(shape("blocks.1.skip.weight"), vec![8, 4, 1, 1], "the second stage widens: a 1×1 skip");
    assert_eq!(shape("embed_in.weight"), vec![8, 4], "nn.Linear's [out, in] (Fourier features 2 × 8/4 in)");
    assert_eq!(shape("readout.weight"), vec![1, 8]);
    assert_eq!(shape("class_table"), vec![4, 8], "three classes and \"any class\"");
    assert_eq!(shape("data_mean"), vec![1]);

    // Damaged files, each refused naming the tensor.
    type Tensors = Vec<(String, Vec<usize>, Vec<f32>)>;
    let edited = |edit: &dyn Fn(&mut Tensors)| -> SafetensorsError {
        let mut list: Tensors = file
            .tensors()
            .into_iter()
            .map(|(n, t)| (n, t.shape().to_vec(), t.data().chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect()))
            .collect();
        edit(&mut list);
        let data: Vec<Vec<u8>> = list.iter().map(|(_, _, v)| v.iter().flat_map(|x| x.to_le_bytes()).collect()).collect();
        let views =
            list.iter().zip(&data).map(|((n, s, _), d)| (n.clone(), TensorView::new(safetensors::Dtype::F32, s.clone(), d).unwrap()));
        let meta = SafeTensors::read_metadata(&bytes).unwrap().1.metadata().clone();
        match from_safetensors(&safetensors::serialize(views, meta).unwrap(), &device) {
            Ok(_) => panic!("a damaged file was read"),
            Err(e) => e,
        }
    };
    let missing = edited(&|l| l.retain(|(n, _, _)| n != "blocks.0.conv2.weight"));
    assert!(missing.to_string().contains("blocks.0.conv2.weight") && missing.to_string().contains("missing"), "{missing}");
    let extra = edited(&|l| l.push(("blocks.9.conv1.weight".into(), vec![1], vec![0.0])));
    assert!(extra.to_string().contains("blocks.9.conv1.weight") && extra.to_string().contains("not part of this net"), "{extra}");
    let reshaped = edited(&|l| {
        let embed = l.iter_mut().find(|(n, _, _)| n == "embed_in.weight").unwrap();
        embed.1 = vec![embed.1[1], embed.1[0]];
    });
    assert!(reshaped.to_string().contains("embed_in.weight") && reshaped.to_string().contains("shape"), "{reshaped}");
    let other_frequencies = edited(&|l| l.iter_mut().find(|(n, _, _)| n == "fourier_frequencies").unwrap().2[0] += 1.0);
    assert!(other_frequencies.to_string().contains("fourier_frequencies"), "{other_frequencies}");
}
