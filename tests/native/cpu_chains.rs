//! The CPU Langevin path's hand-written input gradient against burn's autodiff, for the
//! unconditional energy, a class-conditional E(x, y), the conditional marginal E(x) and a
//! level-conditioned f(y, t); its chains against the autodiff path's; and its pool of helpers.
#![cfg(not(target_arch = "wasm32"))]

use crate::common::with_random_levels;

use burn::tensor::{Int, TensorData};
use dermaebm::sampler::cpu::{Frozen, FrozenNet, Target, swap_inner_axes};
use dermaebm::sampler::{Dynamics, LangevinParams};
use dermaebm::{Device, EbmConfig, EnergyNet, NetShape, Tensor};

/// burn's ∇ₓE (NCHW values) for `x`, with labels, levels or the marginal energy.
fn autodiff_grad(net: &EnergyNet, x: &Tensor<4>, labels: Option<&[i32]>, levels: Option<&[u32]>) -> Vec<f32> {
    let device = x.device();
    let leaf = x.clone().require_grad();
    let ints = |l: Vec<i64>| Tensor::<1, Int>::from_data(TensorData::new(l.clone(), [l.len()]), &device);
    let energy = match (labels, levels) {
        (l, Some(t)) => {
            let labels = l.map(|l| ints(l.iter().map(|&v| v as i64).collect()));
            net.forward_at_given(leaf.clone(), &ints(t.iter().map(|&v| v as i64).collect()), labels.as_ref()).neg()
        }
        (Some(l), None) => net.energy_given(leaf.clone(), ints(l.iter().map(|&v| v as i64).collect())),
        (None, None) => net.energy(leaf.clone()),
    };
    let grads = energy.sum().backward();
    leaf.grad(&grads).expect("gradient of the input").into_data().convert::<f32>().try_into_vec::<f32>().unwrap()
}

fn check(config: &EbmConfig, labels: Option<&[i32]>) {
    check_at(config, labels, None);
}

fn check_at(config: &EbmConfig, labels: Option<&[i32]>, levels: Option<&[u32]>) {
    // Net and images on the autodiff device, so burn can differentiate the same values.
    let device = Device::flex().autodiff();
    device.seed(7);
    let net = EnergyNet::new(NetShape::from(config), &device);
    let n = 5;
    let [c, h, w] = config.image_shape();
    let x = Tensor::<4>::random([n, c, h, w], burn::tensor::Distribution::Uniform(-1.0, 1.0), &device);
    let net = with_random_levels(net);
    let expected = swap_inner_axes(&autodiff_grad(&net, &x, labels, levels), n, c, h * w);

    let frozen = FrozenNet::of(net.conv().expect("a CNN"), h);
    let values = swap_inner_axes(&x.into_data().convert::<f32>().try_into_vec::<f32>().unwrap(), n, c, h * w);
    let mut ws = frozen.workspace(n);
    let mut got = vec![0.0; values.len()];
    frozen.energy_grad(n, &values, labels.map_or(Target::Marginal, Target::Class), levels, &mut ws, &mut got);

    let scale = expected.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    assert!(scale > 0.0, "a random net has a non-zero input gradient");
    let worst = expected.iter().zip(&got).fold(0.0f32, |m, (e, g)| m.max((e - g).abs()));
    assert!(worst <= 1e-4 * scale, "largest difference {worst} against a gradient scale of {scale}");
}

#[test]
fn unconditional_gradient_matches_autodiff() {
    check(&EbmConfig::default(), None);
}

#[test]
fn class_conditional_gradient_matches_autodiff() {
    let config = EbmConfig { classes: 7, ..EbmConfig::default() };
    check(&config, Some(&[0, 6, 3, 3, 1]));
    check(&config, None);
}

#[test]
fn other_shapes_match_autodiff() {
    let config = EbmConfig { channels: 1, image_size: 12, width: 8, ..EbmConfig::default() };
    check(&config, None);
}

#[test]
fn level_conditioned_gradient_matches_autodiff() {
    let config = EbmConfig { width: 16, ..EbmConfig::recovery() };
    check_at(&config, None, Some(&[0, 5, 2, 2, 4]));
    check_at(&config, None, None);
}

/// A class-conditional level net: f(y, t, k) for each image's class, and its "any class" row.
#[test]
fn class_and_level_conditioned_gradient_matches_autodiff() {
    let config = EbmConfig { width: 16, classes: 7, ..EbmConfig::recovery() };
    check_at(&config, Some(&[0, 6, 3, 3, 1]), Some(&[0, 5, 2, 2, 4]));
    check_at(&config, None, Some(&[1, 1, 2, 3, 4]));
    // More classes than levels: the class table (11 rows) is random too, so a dropped label shows.
    let config = EbmConfig { width: 16, classes: 10, ..EbmConfig::recovery() };
    check_at(&config, Some(&[9, 0, 8, 3, 1]), Some(&[0, 5, 2, 2, 4]));
}

/// The CPU path's recovery chains (the walk down the levels, and one level per chain) end where
/// the autodiff path's do when no noise is drawn (each path draws its own noise).
#[test]
fn recovery_chains_match_the_autodiff_path() {
    recovery_chains_match(EbmConfig { width: 16, ..EbmConfig::recovery() }, None);
    // Class-conditional: each chain under its class.
    recovery_chains_match(EbmConfig { width: 16, classes: 7, ..EbmConfig::recovery() }, Some(vec![6, 0, 2, 2, 5, 1]));
    recovery_chains_match(EbmConfig { width: 16, classes: 10, ..EbmConfig::recovery() }, Some(vec![9, 0, 8, 2, 5, 1]));
}

fn recovery_chains_match(config: EbmConfig, labels: Option<Vec<i64>>) {
    use dermaebm::platform::block_on;
    use dermaebm::recovery::NoiseSchedule;
    use dermaebm::sampler::{ChainOptions, RecoveryChains, Walk, langevin};
    let device = Device::flex();
    device.seed(11);
    let net = burn::module::Module::valid(&with_random_levels(EnergyNet::new(NetShape::from(&config), &device.clone().autodiff())));
    let start = Tensor::<4>::random([6, 3, 28, 28], burn::tensor::Distribution::Normal(0.0, 1.0), &device);
    let schedule = NoiseSchedule::new(6, 2e-4);
    for walk in [Walk::Down { top: 5 }, Walk::OneLevel] {
        let dynamics =
            Dynamics::Recovery(RecoveryChains { schedule: schedule.clone(), steps: 4, noise_scale: 0.0, walk, final_drift: 0.0 });
        let labels = labels.clone().map(|l| Tensor::<1, Int>::from_data(TensorData::new(l, [6]), &device));
        let options = ChainOptions { levels: Some(vec![0, 1, 2, 3, 4, 5]), record_every: Some(1), labels, ..Default::default() };
        let (cpu, cpu_frames) = block_on(langevin(&net, start.clone(), &dynamics, &options));
        // The autodiff path: the same net on the autodiff-capable device skips the CPU path.
        let (general, frames) = block_on(dermaebm::sampler::langevin_autodiff(&net, start.clone(), &dynamics, &options));
        let (a, b): (Vec<f32>, Vec<f32>) = (cpu.into_data().try_to_vec().unwrap(), general.into_data().try_to_vec().unwrap());
        let scale = b.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let worst = a.iter().zip(&b).fold(0.0f32, |m, (p, q)| m.max((p - q).abs()));
        assert!(worst <= 1e-4 * scale, "{walk:?}: the paths differ by {worst} (scale {scale})");
        let labels = |f: &[dermaebm::sampler::ChainFrame]| f.iter().map(|f| (f.step, f.level)).collect::<Vec<_>>();
        assert_eq!(labels(&cpu_frames), labels(&frames), "{walk:?}: the same frames");
        if walk != Walk::OneLevel {
            assert_eq!(
                labels(&frames),
                [(0, Some(6)), (4, Some(5)), (8, Some(4)), (12, Some(3)), (16, Some(2)), (20, Some(1)), (24, Some(0))]
            );
        }
        let moved = a.iter().zip(start.clone().into_data().try_to_vec::<f32>().unwrap()).fold(0.0f32, |m, (p, q)| m.max((p - q).abs()));
        assert!(moved > 1e-3, "{walk:?}: the chains moved ({moved})");
    }
}

/// A run's chains split into pieces (as threads or workers would take them) give the same
/// images as the run in one piece: each chain's noise depends only on the seed and its index.
#[test]
fn chains_do_not_depend_on_how_the_run_is_split() {
    use dermaebm::sampler::cpu::{Spec, run_chains};
    let config = EbmConfig::default();
    let device = Device::flex();
    device.seed(3);
    let net =
        Frozen::Conv(Box::new(FrozenNet::of(EnergyNet::new(NetShape::from(&config), &device).conv().expect("a CNN"), config.image_size)));
    let len = net.image_len();
    let n = 37;
    let x = Tensor::<4>::random([n, 3, 28, 28], burn::tensor::Distribution::Uniform(-1.0, 1.0), &device);
    let start = x.into_data().convert::<f32>().try_into_vec::<f32>().unwrap();
    let dynamics = Dynamics::Clamped(LangevinParams { steps: 5, ..LangevinParams::from(&config) });
    let spec = |first_chain| Spec {
        dynamics: &dynamics,
        target_labels: None,
        levels: None,
        free: None,
        record_every: None,
        seed: 99,
        first_chain,
    };
    let (whole, _) = run_chains(&net, &start, &spec(0));
    let cut = 21;
    let (a, _) = run_chains(&net, &start[..cut * len], &spec(0));
    let (b, _) = run_chains(&net, &start[cut * len..], &spec(cut));
    let pieces: Vec<f32> = a.into_iter().chain(b).collect();
    assert_ne!(whole, start, "the chains moved");
    let worst = whole.iter().zip(&pieces).fold(0.0f32, |m, (p, q)| m.max((p - q).abs()));
    assert!(worst <= 1e-6, "one run and the same run in two pieces differ by up to {worst}");
}

/// A pool of helpers that runs each share here, as a browser helper worker would: from the
/// frozen net's wire format and the share's own slice of the run.
struct LocalPool {
    helpers: usize,
    /// Fail every share (a pool whose helpers keep dying).
    broken: bool,
}

impl dermaebm::sampler::cpu::ChainPool for LocalPool {
    fn helpers(&self) -> usize {
        self.helpers
    }
    fn start(&self, job: dermaebm::sampler::cpu::ShareJob<'_>) -> dermaebm::sampler::cpu::ShareFuture {
        use dermaebm::sampler::cpu::{Spec, run_chains};
        let out = dermaebm::sampler::cpu::Frozen::from_values(job.net).map(|net| {
            let spec = Spec {
                dynamics: job.dynamics,
                target_labels: job.labels,
                levels: job.levels,
                free: job.free,
                record_every: job.record_every,
                seed: job.seed,
                first_chain: job.first_chain,
            };
            run_chains(&net, job.images, &spec)
        });
        let broken = self.broken;
        Box::pin(async move { if broken { Err("the helper died".to_string()) } else { out } })
    }
}

/// Seeded chains give the same images run here or as shares on 1, 2 or 3 helpers (plus the
/// share this thread runs; each chain's noise is its own, and a share carries its first chain's
/// index), recorded frames included.
#[test]
fn chains_on_a_pool_of_helpers_do_not_depend_on_how_many() {
    use dermaebm::platform::block_on;
    use dermaebm::sampler::cpu::{Spec, run_chains, run_on_pool};
    let config = EbmConfig { classes: 3, ..EbmConfig::default() };
    let device = Device::flex();
    let net = Frozen::Conv(Box::new(FrozenNet::of(EnergyNet::new(NetShape::from(&config), &device).conv().expect("a CNN"), 28)));
    let n = 11;
    let start: Vec<f32> = (0..n * net.image_len()).map(|i| ((i * 7919 % 2001) as f32 / 1000.0) - 1.0).collect();
    let labels: Vec<i32> = (0..n as i32).map(|i| i % 3).collect();
    let dynamics = Dynamics::Clamped(LangevinParams { steps: 6, ..LangevinParams::from(&config) });
    let spec = Spec {
        dynamics: &dynamics,
        target_labels: Some(&labels),
        levels: None,
        free: None,
        record_every: Some(3),
        seed: 42,
        first_chain: 0,
    };
    let flat = |(finals, frames): (Vec<f32>, dermaebm::sampler::cpu::Frames)| {
        let steps: Vec<usize> = frames.iter().map(|f| f.step).collect();
        (finals.into_iter().chain(frames.into_iter().flat_map(|f| f.values)).collect::<Vec<f32>>(), steps)
    };
    let (here, steps) = flat(run_chains(&net, &start, &spec));
    assert_eq!(steps, [0, 3, 6]);
    for helpers in [1, 2, 3] {
        let (pooled, pooled_steps) = flat(block_on(run_on_pool(&LocalPool { helpers, broken: false }, &net, &start, &spec)));
        assert_eq!((pooled.len(), &pooled_steps), (here.len(), &steps));
        // Shares run in tiles of other sizes than the whole run: float sums may differ in the
        // last place, nothing more.
        let worst = here.iter().zip(&pooled).fold(0.0f32, |m, (p, q)| m.max((p - q).abs()));
        assert!(worst <= 1e-6, "{helpers} helpers: up to {worst} away from the run without a pool");
    }
}

/// Langevin on the CPU uses the installed pool (one share per helper, one here), and the shares
/// of a pool that keeps failing are rerun here.
#[test]
fn langevin_runs_on_the_installed_pool_and_survives_a_broken_one() {
    use dermaebm::platform::block_on;
    use dermaebm::sampler::cpu::install_pool;
    use dermaebm::sampler::langevin;
    use std::rc::Rc;
    let config = EbmConfig::default();
    let device = Device::flex();
    let net = EnergyNet::new(NetShape::from(&config), &device);
    let start = Tensor::<4>::random([4, 3, 28, 28], burn::tensor::Distribution::Uniform(-1.0, 1.0), &device);
    let params = Dynamics::Clamped(LangevinParams { steps: 2, ..LangevinParams::from(&config) });
    let values = |t: Tensor<4>| t.into_data().try_to_vec::<f32>().unwrap();
    let mut ends = Vec::new();
    for broken in [false, true] {
        let pool = Rc::new(CountingPool { inner: LocalPool { helpers: 2, broken }, shares: Default::default() });
        install_pool(Some(pool.clone()));
        // The chains' noise comes from the device's generator: the same seed for both runs.
        device.seed(17);
        let (end, _) = block_on(langevin(&net, start.clone(), &params, &Default::default()));
        install_pool(None);
        assert_eq!(pool.shares.get(), 2, "two helpers, a share each (broken: {broken})");
        ends.push(values(end));
    }
    assert_ne!(ends[0], values(start), "the chains ran");
    // A broken pool's shares are rerun here with their own noise streams: the same images.
    assert_eq!(ends[1], ends[0], "the run with a broken pool ends where the working pool's does");
}

struct CountingPool {
    inner: LocalPool,
    shares: std::cell::Cell<usize>,
}

impl dermaebm::sampler::cpu::ChainPool for CountingPool {
    fn helpers(&self) -> usize {
        self.inner.helpers()
    }
    fn start(&self, job: dermaebm::sampler::cpu::ShareJob<'_>) -> dermaebm::sampler::cpu::ShareFuture {
        self.shares.set(self.shares.get() + 1);
        self.inner.start(job)
    }
}

#[test]
fn the_frozen_net_survives_its_wire_format_and_damage_is_refused() {
    for config in [
        EbmConfig { classes: 7, ..EbmConfig::default() },
        EbmConfig { width: 16, ..EbmConfig::recovery() },
        EbmConfig { width: 16, classes: 7, ..EbmConfig::recovery() },
    ] {
        let net = FrozenNet::of(with_random_levels(EnergyNet::new(NetShape::from(&config), &Device::flex())).conv().expect("a CNN"), 28);
        let values = net.to_values();
        assert_eq!(FrozenNet::from_values(&values).expect("it reads back").to_values(), values);
    }
    let config = EbmConfig { classes: 7, ..EbmConfig::default() };
    let net = FrozenNet::of(EnergyNet::new(NetShape::from(&config), &Device::flex()).conv().expect("a CNN"), 28);
    let values = net.to_values();
    assert!(FrozenNet::from_values(&values[..values.len() - 1]).is_err(), "cut short");
    let mut longer = values.clone();
    longer.push(0.0);
    assert!(FrozenNet::from_values(&longer).is_err(), "values left over");
    let mut wrong_size = values.clone();
    wrong_size[3] = 1e9;
    assert!(FrozenNet::from_values(&wrong_size).is_err(), "a size field out of range");
    assert!(FrozenNet::from_values(&[]).is_err());
}
