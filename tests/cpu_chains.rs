//! The CPU Langevin path's hand-written input gradient against burn's autodiff, for the
//! unconditional energy, a class-conditional E(x, y) and the conditional marginal E(x).
#![cfg(not(target_arch = "wasm32"))]

use burn::tensor::{Int, TensorData};
use dermaebm::cpu_chains::{Target, swap_inner_axes};
use dermaebm::{Device, EbmConfig, EnergyNet, NetShape, Tensor};

/// burn's ∇ₓE (NCHW values) for `x`, with labels or the marginal energy.
fn autodiff_grad(net: &EnergyNet, x: &Tensor<4>, labels: Option<&[i32]>) -> Vec<f32> {
    let device = x.device();
    let leaf = x.clone().require_grad();
    let energy = match labels {
        Some(l) => {
            let labels = Tensor::<1, Int>::from_data(TensorData::new(l.to_vec(), [l.len()]), &device);
            net.energy_given(leaf.clone(), labels)
        }
        None => net.energy(leaf.clone()),
    };
    let grads = energy.sum().backward();
    leaf.grad(&grads).expect("gradient of the input").into_data().convert::<f32>().try_into_vec::<f32>().unwrap()
}

fn check(config: &EbmConfig, labels: Option<&[i32]>) {
    // Net and images on the autodiff device, so burn can differentiate the same values.
    let device = Device::flex().autodiff();
    device.seed(7);
    let net = EnergyNet::new(NetShape::from(config), &device);
    let n = 5;
    let [c, h, w] = config.image_shape();
    let x = Tensor::<4>::random([n, c, h, w], burn::tensor::Distribution::Uniform(-1.0, 1.0), &device);
    let expected = swap_inner_axes(&autodiff_grad(&net, &x, labels), n, c, h * w);

    let frozen = net.frozen(h);
    let values = swap_inner_axes(&x.into_data().convert::<f32>().try_into_vec::<f32>().unwrap(), n, c, h * w);
    let mut ws = frozen.workspace(n);
    let mut got = vec![0.0; values.len()];
    frozen.energy_grad(n, &values, labels.map_or(Target::Marginal, Target::Class), &mut ws, &mut got);

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

/// A run's chains split into pieces (as threads or workers would take them) give the same
/// images as the run in one piece: each chain's noise depends only on the seed and its index.
#[test]
fn chains_do_not_depend_on_how_the_run_is_split() {
    use dermaebm::cpu_chains::{Spec, run_chains};
    use dermaebm::sampler::LangevinParams;
    let config = EbmConfig::default();
    let device = Device::flex();
    device.seed(3);
    let net = EnergyNet::new(NetShape::from(&config), &device).frozen(config.image_size);
    let len = net.image_len();
    let n = 37;
    let x = Tensor::<4>::random([n, 3, 28, 28], burn::tensor::Distribution::Uniform(-1.0, 1.0), &device);
    let start = x.into_data().convert::<f32>().try_into_vec::<f32>().unwrap();
    let spec = |first_chain| Spec {
        params: LangevinParams { steps: 5, ..LangevinParams::from(&config) },
        target_labels: None,
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

impl dermaebm::cpu_chains::ChainPool for LocalPool {
    fn helpers(&self) -> usize {
        self.helpers
    }
    fn start(&self, job: dermaebm::cpu_chains::ShareJob<'_>) -> dermaebm::cpu_chains::ShareFuture {
        use dermaebm::cpu_chains::{FrozenNet, Spec, run_chains};
        let out = FrozenNet::from_values(job.net).map(|net| {
            let spec = Spec {
                params: job.params,
                target_labels: job.labels,
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
    use dermaebm::cpu_chains::{Spec, run_chains, run_on_pool};
    use dermaebm::platform::block_on;
    use dermaebm::sampler::LangevinParams;
    let config = EbmConfig { classes: 3, ..EbmConfig::default() };
    let device = Device::flex();
    let net = EnergyNet::new(NetShape::from(&config), &device).frozen(28);
    let n = 11;
    let start: Vec<f32> = (0..n * net.image_len()).map(|i| ((i * 7919 % 2001) as f32 / 1000.0) - 1.0).collect();
    let labels: Vec<i32> = (0..n as i32).map(|i| i % 3).collect();
    let spec = Spec {
        params: LangevinParams { steps: 6, ..LangevinParams::from(&config) },
        target_labels: Some(&labels),
        free: None,
        record_every: Some(3),
        seed: 42,
        first_chain: 0,
    };
    let flat = |(finals, frames): (Vec<f32>, dermaebm::cpu_chains::Frames)| {
        let steps: Vec<usize> = frames.iter().map(|f| f.0).collect();
        (finals.into_iter().chain(frames.into_iter().flat_map(|f| f.1)).collect::<Vec<f32>>(), steps)
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
    use dermaebm::cpu_chains::install_pool;
    use dermaebm::platform::block_on;
    use dermaebm::sampler::{LangevinParams, langevin};
    use std::rc::Rc;
    let config = EbmConfig::default();
    let device = Device::flex();
    let net = EnergyNet::new(NetShape::from(&config), &device);
    let start = Tensor::<4>::random([4, 3, 28, 28], burn::tensor::Distribution::Uniform(-1.0, 1.0), &device);
    let params = LangevinParams { steps: 2, ..LangevinParams::from(&config) };
    for broken in [false, true] {
        let pool = Rc::new(CountingPool { inner: LocalPool { helpers: 2, broken }, shares: Default::default() });
        install_pool(Some(pool.clone()));
        let (end, _) = block_on(langevin(&net, start.clone(), &params, &Default::default()));
        install_pool(None);
        assert_eq!(pool.shares.get(), 2, "two helpers, a share each (broken: {broken})");
        assert_eq!(end.dims(), [4, 3, 28, 28]);
        let moved: f32 = (end - start.clone()).abs().max().into_scalar();
        assert!(moved > 0.0, "the chains ran (broken: {broken})");
    }
}

struct CountingPool {
    inner: LocalPool,
    shares: std::cell::Cell<usize>,
}

impl dermaebm::cpu_chains::ChainPool for CountingPool {
    fn helpers(&self) -> usize {
        self.inner.helpers()
    }
    fn start(&self, job: dermaebm::cpu_chains::ShareJob<'_>) -> dermaebm::cpu_chains::ShareFuture {
        self.shares.set(self.shares.get() + 1);
        self.inner.start(job)
    }
}

#[test]
fn the_frozen_net_survives_its_wire_format_and_damage_is_refused() {
    use dermaebm::cpu_chains::FrozenNet;
    let config = EbmConfig { classes: 7, ..EbmConfig::default() };
    let net = EnergyNet::new(NetShape::from(&config), &Device::flex()).frozen(28);
    let values = net.to_values();
    assert_eq!(FrozenNet::from_values(&values).expect("it reads back").to_values(), values);
    assert!(FrozenNet::from_values(&values[..values.len() - 1]).is_err(), "cut short");
    let mut longer = values.clone();
    longer.push(0.0);
    assert!(FrozenNet::from_values(&longer).is_err(), "values left over");
    let mut wrong_size = values.clone();
    wrong_size[3] = 1e9;
    assert!(FrozenNet::from_values(&wrong_size).is_err(), "a size field out of range");
    assert!(FrozenNet::from_values(&[]).is_err());
}
