//! Shared by the native tests and the browser tests, so both run the same checks.
#![allow(dead_code)]

use dermaebm::buffer::ReplayBuffer;
use dermaebm::inference::energies;
use dermaebm::metrics::auroc_lower_is_positive;
use dermaebm::{Device, EbmConfig, EnergyNet, Trainer, synthetic};

/// CD iterations the learning test runs (natively and in the browser).
pub const BROWSER_ITERATIONS: usize = 25;

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

/// Trains the tiny config for `iterations` CD steps on the synthetic patterns and returns the
/// AUROC before and after training.
pub async fn learning_run(device: &Device, iterations: usize) -> (f64, f64) {
    let config = tiny_config(1);
    let mut trainer = Trainer::new(config.clone(), device).expect("valid config");
    let before = data_vs_noise_auroc(trainer.model(), &config, &trainer.device(), 1000).await;
    for i in 0..iterations {
        let real = synthetic::patterns(config.batch_size, 1, config.image_size, 0.05, i as u64, &trainer.device());
        let stats = trainer.step(real).await.expect("training step");
        assert!(stats.is_finite(), "iteration {i} produced non-finite statistics: {stats:?}");
    }
    let after = data_vs_noise_auroc(trainer.model(), &config, &trainer.device(), 1000).await;
    (before, after)
}

/// Mean energy of a fixed batch of noise before and after Langevin under a random net.
pub async fn langevin_energy_drop(device: &Device) -> (f32, f32) {
    use dermaebm::sampler::{LangevinParams, langevin};
    let config = tiny_config(3);
    device.seed(3);
    let net = EnergyNet::new((&config).into(), device);
    let start = ReplayBuffer::noise(64, config.image_shape(), device);
    let params = LangevinParams::from(&config);
    let before = energies(&net, start.clone(), 64).await.unwrap();
    let (end, _) = langevin(&net, start, &params, None, None);
    let after = energies(&net, end, 64).await.unwrap();
    let mean = |v: &[f32]| v.iter().sum::<f32>() / v.len() as f32;
    (mean(&before), mean(&after))
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
        let s = trainer.step(real).await.expect("one fault must not stop training");
        finite = s.is_finite() && !s.rolled_back;
    }
    (trainer.rollbacks(), finite && trainer.iteration() >= 5)
}
