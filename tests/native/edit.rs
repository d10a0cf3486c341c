//! Inpainting and denoising with Langevin: kept pixels are untouched byte for byte, the edited
//! images have lower energy, and bad masks or images get their own errors.
// Native only: the browser runs these checks through tests/web.rs.
#![cfg(not(target_arch = "wasm32"))]

use crate::common;

use dermaebm::data::dataset::tensor_values_to_images;
use dermaebm::edit::{EditError, MaskPreset, add_noise, denoise, inpaint};
use dermaebm::platform::block_on;
use dermaebm::sampler::LangevinParams;
use dermaebm::{Device, EbmConfig, EnergyNet, synthetic};

fn mean(v: &[f32]) -> f32 {
    v.iter().sum::<f32>() / v.len() as f32
}

fn trained() -> (EnergyNet, EbmConfig, Device) {
    let device = Device::flex();
    let (trainer, config) = block_on(common::trained_tiny(&device, common::BROWSER_ITERATIONS));
    (trainer.model().clone(), config, trainer.device())
}

fn pattern_bytes(config: &EbmConfig, n: usize, seed: u64) -> Vec<Vec<u8>> {
    let s = config.image_size;
    tensor_values_to_images(&synthetic::pattern_values(n, config.channels, s, 0.05, seed), config.channels, s, s)
}

/// A recovery model inpaints by walking its levels with the known pixels re-noised to each: the
/// known pixels come back byte for byte, the masked ones are repainted.
#[test]
fn recovery_inpainting_walks_the_levels_and_keeps_the_known_pixels() {
    use dermaebm::sampler::Dynamics;
    let device = Device::flex();
    let config = common::tiny_recovery_config(21);
    let mut trainer = dermaebm::Trainer::new(config.clone(), &device).unwrap();
    for i in 0..20 {
        let real = synthetic::patterns(config.batch_size, 1, config.image_size, 0.05, i, &trainer.device());
        block_on(trainer.step(real, None)).unwrap();
    }
    let (c, s) = (config.channels, config.image_size);
    let images = pattern_bytes(&config, 4, 5);
    let free = MaskPreset::CentreSquare.mask(s);
    let out = block_on(inpaint(trainer.sampling_model(), &images, c, s, &free, &Dynamics::sampling(&config, None), None, &device)).unwrap();
    let mut repainted = 0;
    for (after, input) in out.after.iter().zip(&images) {
        for p in 0..s * s {
            let same = after[p * c..(p + 1) * c] == input[p * c..(p + 1) * c];
            if free[p] {
                repainted += usize::from(!same);
            } else {
                assert!(same, "pixel {p} outside the mask changed");
            }
        }
    }
    assert!(repainted > free.iter().filter(|&&f| f).count() / 2, "most masked pixels were repainted ({repainted})");
}

#[test]
fn inpainting_keeps_unmasked_bytes_and_lowers_the_energy() {
    let (model, config, device) = trained();
    let (c, s) = (config.channels, config.image_size);
    let images = pattern_bytes(&config, 8, 77);
    let free = MaskPreset::CentreSquare.mask(s);
    let params = LangevinParams { steps: 60, ..LangevinParams::from(&config) };
    let out = block_on(inpaint(&model, &images, c, s, &free, &params.into(), None, &device)).unwrap();
    let mut moved = 0;
    for (i, (after, input)) in out.after.iter().zip(&images).enumerate() {
        for p in 0..s * s {
            let (a, b) = (&after[p * c..(p + 1) * c], &input[p * c..(p + 1) * c]);
            if free[p] {
                moved += usize::from(a != &out.before[i][p * c..(p + 1) * c]);
            } else {
                assert_eq!(a, b, "image {i}, pixel {p}: unmasked pixels must be byte-identical");
            }
        }
    }
    assert!(moved > 0, "the masked pixels must change");
    let (before, after) = (mean(&out.energy_before), mean(&out.energy_after));
    assert!(after < before, "inpainting should lower the energy: {before} → {after}");
    // The filled-in region moves from noise towards the pattern it belongs to.
    let error = |imgs: &[Vec<u8>]| -> f64 {
        imgs.iter()
            .zip(&images)
            .flat_map(|(x, y)| (0..s * s).filter(|&p| free[p]).map(move |p| (x[p * c] as f64 - y[p * c] as f64).abs()))
            .sum()
    };
    assert!(error(&out.after) < error(&out.before), "the filled region should get closer to the original");
}

#[test]
fn denoising_lowers_the_energy_of_noisy_images() {
    let (model, config, device) = trained();
    let (c, s) = (config.channels, config.image_size);
    let clean = pattern_bytes(&config, 8, 5);
    let noisy = block_on(add_noise(&clean, c, s, 0.4, &device)).unwrap();
    assert_ne!(noisy, clean);
    let params = LangevinParams { steps: 20, ..LangevinParams::from(&config) };
    let out = block_on(denoise(&model, &noisy, c, s, &params.into(), None, None, &device)).unwrap();
    assert_eq!(out.before, noisy);
    assert!(mean(&out.energy_after) < mean(&out.energy_before), "{:?} → {:?}", out.energy_before, out.energy_after);
}

#[test]
fn presets_cover_what_they_say() {
    let s = 28;
    let count = |m: Vec<bool>| m.iter().filter(|&&f| f).count();
    assert_eq!(count(MaskPreset::CentreSquare.mask(s)), 14 * 14);
    for half in [MaskPreset::LeftHalf, MaskPreset::RightHalf, MaskPreset::TopHalf, MaskPreset::BottomHalf] {
        assert_eq!(count(half.mask(s)), s * s / 2, "{half:?}");
    }
    assert!(MaskPreset::LeftHalf.mask(s)[0] && !MaskPreset::RightHalf.mask(s)[0]);
    assert_eq!(MaskPreset::parse("centre_square"), Some(MaskPreset::CentreSquare));
    assert_eq!(MaskPreset::parse("middle"), None);
}

#[test]
fn bad_masks_and_images_are_refused() {
    let device = Device::flex();
    let config = common::tiny_config(1);
    let model = EnergyNet::new((&config).into(), &device);
    let (c, s) = (config.channels, config.image_size);
    let params = LangevinParams::from(&config);
    let images = pattern_bytes(&config, 2, 1);
    let run = |imgs: &[Vec<u8>], free: &[bool]| block_on(inpaint(&model, imgs, c, s, free, &params.into(), None, &device)).unwrap_err();
    assert_eq!(run(&images, &[true; 3]), EditError::MaskSize { got: 3, expected: s * s });
    assert_eq!(run(&images, &vec![false; s * s]), EditError::EmptyMask);
    let short = vec![images[0].clone(), images[1][..10].to_vec()];
    assert!(matches!(run(&short, &vec![true; s * s]), EditError::ImageSize { index: 1, got: 10, .. }));
    assert_eq!(run(&[], &vec![true; s * s]), EditError::NoImages);
}

/// One rule for a class, wherever sampling takes one: an unconditional net refuses any class, a
/// class a conditional net does not have is refused (not ignored, not an index out of bounds).
#[test]
fn a_class_the_model_lacks_is_refused_everywhere() {
    use dermaebm::inference::{SampleError, generate};
    use dermaebm::persistent::{ChainSnapshot, continue_chains};
    use rand::SeedableRng;
    let device = Device::flex();
    let config = common::conditional_config(5);
    let net = EnergyNet::new((&config).into(), &device);
    let params = LangevinParams { steps: 2, ..LangevinParams::from(&config) };
    let images = pattern_bytes(&config, 2, 1);
    let (c, s) = (config.channels, config.image_size);
    let missing = config.classes + 5;
    let refused = |e: String| assert!(e.contains(&format!("class {missing} does not exist")), "{e}");
    refused(block_on(generate(&net, 2, config.image_shape(), &params.into(), None, Some(missing), &device)).unwrap_err().to_string());
    refused(block_on(denoise(&net, &images, c, s, &params.into(), None, Some(missing), &device)).unwrap_err().to_string());
    let mask = MaskPreset::CentreSquare.mask(s);
    refused(block_on(inpaint(&net, &images, c, s, &mask, &params.into(), Some(missing), &device)).unwrap_err().to_string());
    let chains = ChainSnapshot { shape: config.image_shape(), bytes: vec![128; 3 * c * s * s], labels: vec![0, 1, 2], ages: vec![0; 3] };
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let err = block_on(continue_chains(&net, &chains, 2, &params, None, Some(missing), 0, &mut rng, &device)).unwrap_err();
    assert!(matches!(err, SampleError::NoSuchClass { .. }), "{err}");
    // A class the model has is fine; an unconditional net has no classes to choose from.
    assert!(block_on(generate(&net, 2, config.image_shape(), &params.into(), None, Some(1), &device)).is_ok());
    let plain = EnergyNet::new((&common::tiny_config(5)).into(), &device);
    let err = block_on(generate(&plain, 2, config.image_shape(), &params.into(), None, Some(0), &device)).unwrap_err();
    assert!(matches!(err, SampleError::NotConditional), "{err}");
    assert!(block_on(generate(&plain, 2, config.image_shape(), &params.into(), None, None, &device)).is_ok());
}
