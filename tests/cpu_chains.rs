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
