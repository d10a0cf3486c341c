//! Browser tests (`wasm-pack test --headless --chrome --test web`): the core's learning and
//! sampler checks on WebGPU (SwiftShader in CI) and on the CPU backend compiled to wasm.
//! They run in a dedicated worker, where long GPU loops do not stall the page.
#![cfg(target_arch = "wasm32")]

mod common;

use dermaebm::{BackendRequest, Device, select_device};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_dedicated_worker);

async fn webgpu() -> Device {
    let (device, info) = select_device(BackendRequest::Gpu).await;
    assert_eq!(info.backend, "webgpu", "these tests exercise WebGPU; got {info:?}");
    device
}

#[wasm_bindgen_test]
async fn webgpu_sampler_lowers_energy() {
    let (before, after) = common::langevin_energy_drop(&webgpu().await).await;
    assert!(after < before, "before {before}, after {after}");
}

/// The GPU kernels (fused by burn when the `gpu-fusion` feature is on) must compute what the
/// CPU computes: the energies and the input gradient Langevin follows.
#[wasm_bindgen_test]
async fn webgpu_energy_and_input_gradient_match_the_cpu() {
    let (e_cpu, g_cpu, e_gpu, g_gpu) = common::energy_and_gradient_on_both(&webgpu().await).await;
    assert!(g_cpu.iter().any(|&g| g != 0.0), "the CPU gradient is not all zero");
    let (de, dg) = (common::relative_difference(&e_cpu, &e_gpu), common::relative_difference(&g_cpu, &g_gpu));
    assert!(de < 1e-3, "energies differ by {de} (relative): cpu {:?} gpu {:?}", &e_cpu[..4], &e_gpu[..4]);
    assert!(dg < 1e-3, "input gradients differ by {dg} (relative)");
}

#[wasm_bindgen_test]
async fn webgpu_cd_training_separates_data_from_noise() {
    let (before, after) = common::learning_run(&webgpu().await, common::WEBGPU_ITERATIONS).await;
    assert!(before < 0.95, "untrained AUROC {before}");
    assert!(after >= 0.95, "trained AUROC {after}");
}

/// A level-conditioned net on WebGPU computes what the CPU computes, with and without spectral
/// normalisation, and with it baked into the weights on WebGPU (as sampling uses it) against the
/// CPU's live normalisation: energies at each image's level and their input gradient.
#[wasm_bindgen_test]
async fn webgpu_level_energy_and_gradient_match_the_cpu() {
    let device = webgpu().await;
    let levels: Vec<i32> = (0..16).map(|i| i % 4).collect();
    for (spectral_norm, baked) in [(false, false), (true, false), (true, true)] {
        let config = dermaebm::EbmConfig { spectral_norm, ..common::tiny_recovery_config(7) };
        let (e_cpu, g_cpu, e_gpu, g_gpu) = common::energy_and_gradient_on_both_for(&device, &config, Some(levels.clone()), baked).await;
        let case = format!("spectral norm {spectral_norm}, baked {baked}");
        // Two zero gradients would agree perfectly: the comparison needs real ones.
        assert!(g_cpu.iter().any(|&g| g != 0.0) && g_gpu.iter().any(|&g| g != 0.0), "{case}: the input gradients are not zero");
        assert!(e_cpu.iter().any(|&e| e != e_cpu[0]), "{case}: the energies depend on the image and its level");
        let (de, dg) = (common::relative_difference(&e_cpu, &e_gpu), common::relative_difference(&g_cpu, &g_gpu));
        assert!(de < 1e-3, "{case}: energies differ by {de}: cpu {:?} gpu {:?}", &e_cpu[..8], &e_gpu[..8]);
        assert!(dg < 1e-3, "{case}: input gradients differ by {dg}");
    }
}

/// The recovery recipe's walk on WebGPU (burn's autodiff path) ends where the CPU path's does,
/// level by level (recorded states, then the end): the level-conditioned net, the tether and the
/// rescaling between levels agree, and no step's image is lost on the device.
#[wasm_bindgen_test]
async fn webgpu_recovery_walk_matches_the_cpu() {
    let device = webgpu().await;
    // Unconditional, then class-conditional with each chain under its own class.
    for classes in [0, 3] {
        let (cpu, gpu) = common::recovery_walk_on_both(&device, classes).await;
        check_walks_agree(&cpu, &gpu, classes);
    }
}

fn check_walks_agree(cpu: &[Vec<f32>], gpu: &[Vec<f32>], classes: usize) {
    assert_eq!(cpu.len(), gpu.len(), "the same levels recorded");
    for (level, (c, g)) in cpu.iter().zip(gpu).enumerate() {
        let d = common::relative_difference(c, g);
        let worst = c
            .iter()
            .zip(g)
            .enumerate()
            .max_by(|a, b| (a.1.0 - a.1.1).abs().total_cmp(&(b.1.0 - b.1.1).abs()))
            .map(|(i, (x, y))| (i, *x, *y));
        assert!(d < 1e-3, "classes {classes}: state {level} of the walk differs by {d} (relative); worst element {worst:?}");
    }
}

/// Recovery-likelihood training runs on WebGPU: finite statistics, and the averaged weights that
/// samples use move as the moving average of the weights each update gave (read back after
/// every update), not merely somewhere.
#[wasm_bindgen_test]
async fn webgpu_recovery_training_runs() {
    let report = common::recovery_training_on(&webgpu().await, 3).await;
    assert!(report.finite, "every iteration's statistics are finite: {report:?}");
    assert!(report.moved > 1e-6, "the moving average moved: {report:?}");
    assert!(report.off_the_rule < 0.05, "the average follows ema ← d·ema + (1 − d)·weights: {report:?}");
}

#[wasm_bindgen_test]
async fn auto_backend_skips_a_software_adapter() {
    // What a GPU request finds decides what "auto" must pick: a hardware adapter is used, a
    // software one (SwiftShader here) or none falls back to the CPU, saying why.
    let (_, gpu) = select_device(BackendRequest::Gpu).await;
    let (_, auto) = select_device(BackendRequest::Auto).await;
    if gpu.backend == "cpu" {
        assert_eq!(auto.backend, "cpu", "no WebGPU at all: {auto:?}");
    } else if gpu.software_adapter {
        assert_eq!(auto.backend, "cpu", "a software adapter must not be picked automatically: {auto:?}");
        assert!(auto.note.contains("software"), "the fallback is explained: {auto:?}");
    } else {
        assert_eq!((auto.backend.as_str(), auto.adapter.as_str()), (gpu.backend.as_str(), gpu.adapter.as_str()), "a hardware GPU is used");
    }
}

#[wasm_bindgen_test]
async fn flex_in_wasm_sampler_lowers_energy() {
    let (before, after) = common::langevin_energy_drop(&Device::flex()).await;
    assert!(after < before, "before {before}, after {after}");
}

#[wasm_bindgen_test]
async fn flex_in_wasm_cd_training_separates_data_from_noise() {
    let (before, after) = common::learning_run(&Device::flex(), common::BROWSER_ITERATIONS).await;
    assert!(before < 0.95, "untrained AUROC {before}");
    assert!(after >= 0.95, "trained AUROC {after}");
}

#[wasm_bindgen_test]
async fn flex_in_wasm_divergence_is_rolled_back() {
    let (rollbacks, healthy) = common::guard_recovers(&Device::flex()).await;
    assert!(rollbacks >= 1 && healthy, "rollbacks {rollbacks}, healthy end {healthy}");
}

#[wasm_bindgen_test]
async fn flex_in_wasm_a_slow_drift_stops_with_a_clear_error() {
    let (err, largest) = common::drive_drift(&Device::flex(), 2.0, 1.03, 300).await;
    let err = err.expect("the drift guard stops a run whose energies keep growing");
    assert!(matches!(err, dermaebm::TrainError::Drifted { bound: 2.0, .. }), "{err}");
    assert!(largest < 1000.0, "stopped long before the divergence bound (largest |E| {largest})");
}

#[wasm_bindgen_test]
async fn flex_in_wasm_conditional_samples_show_their_class() {
    let report = common::conditional_run(&Device::flex(), common::CONDITIONAL_ITERATIONS).await;
    assert!(report.sample_accuracy >= 0.9, "{report:?}");
    // The classifier head learns more slowly than the energies; well above chance (0.25) is enough here.
    assert!(report.classifier_accuracy >= 0.6, "{report:?}");
}

/// The sampler's own output on WebGPU: a masked chain keeps the other pixels bit-identical.
#[wasm_bindgen_test]
async fn webgpu_masked_chain_changes_only_free_pixels() {
    let (kept, moved) = common::masked_chain(&webgpu().await).await;
    assert!(kept, "pixels outside the mask must be bit-identical");
    assert!(moved, "pixels inside the mask must move");
}

#[wasm_bindgen_test]
async fn webgpu_inpainting_keeps_unmasked_pixels() {
    use dermaebm::edit::{MaskPreset, inpaint};
    use dermaebm::sampler::LangevinParams;
    let device = webgpu().await;
    let config = common::tiny_config(4);
    let (c, s) = (config.channels, config.image_size);
    let net = dermaebm::EnergyNet::new((&config).into(), &device);
    let images: Vec<Vec<u8>> = (0..2).map(|i| (0..c * s * s).map(|p| ((p * 13 + i * 7) % 256) as u8).collect()).collect();
    let free = MaskPreset::LeftHalf.mask(s);
    let params = LangevinParams { steps: 5, ..LangevinParams::from(&config) };
    let out = inpaint(&net, &images, c, s, &free, &params.into(), None, &device).await.unwrap();
    let mut repainted = 0;
    for ((after, before), input) in out.after.iter().zip(&out.before).zip(&images) {
        for p in 0..s * s {
            if free[p] {
                repainted += usize::from(after[p * c..(p + 1) * c] != before[p * c..(p + 1) * c]);
            } else {
                assert_eq!(after[p * c..(p + 1) * c], input[p * c..(p + 1) * c], "pixel {p}");
            }
        }
    }
    assert!(repainted > 0, "the chain moved the masked pixels");
    assert!(out.energy_after.iter().chain(&out.energy_before).all(|e| e.is_finite()));
}

/// The message of a JS error returned by an entry point ("<no error>" if it succeeded).
fn message<T>(result: Result<T, wasm_bindgen::JsError>) -> String {
    match result {
        Ok(_) => "<no error>".into(),
        Err(e) => {
            let value: wasm_bindgen::JsValue = e.into();
            js_sys::Reflect::get(&value, &"message".into()).ok().and_then(|m| m.as_string()).unwrap_or_default()
        }
    }
}

/// Every JavaScript entry point, given bad input, returns an `Error` that says what is wrong,
/// and the engine keeps working afterwards (no panic poisoned it).
#[wasm_bindgen_test]
async fn every_entry_point_refuses_bad_input_with_a_message() {
    use dermaebm::EbmConfig;
    use dermaebm::wasm::Engine;
    use dermaebm::weights::{WeightsFile, model_bytes};
    use js_sys::Uint8Array;

    assert_eq!(message(Engine::create("tpu".into()).await), "unknown backend `tpu`: use auto, gpu or cpu");
    let engine = Engine::create("cpu".into()).await.unwrap();
    let mut table: Vec<(&str, String, &str)> = Vec::new();
    let mut check = |name: &'static str, got: String, want: &'static str| table.push((name, got, want));

    // Before any model or data.
    check("setConfig", message(engine.set_config("{not json")), "not a valid configuration");
    check("setConfig", message(engine.set_config(r#"{"batch_size": 0}"#)), "invalid setting `batch_size`");
    check("setConfig", message(engine.set_config(r#"{"bach_size": 4}"#)), "unknown field `bach_size`");
    check("setConfig", message(engine.set_config(r#"{"classes": 1}"#)), "invalid setting `classes`");
    check("loadWeights", message(engine.load_weights(b"PK\x03\x04 not weights")), "not a weights file of this project");
    check("loadWeights", message(engine.load_weights(b"DEBMWTS\0\x01\0\0\0")), "truncated or damaged");
    check("saveWeights", message(engine.save_weights().await), "there is no model to save yet");
    check("generate", message(engine.generate(4, 10, 0, None, None, None, None, None, None).await), "no model yet");
    check("scoreNoise", message(engine.score_noise(0).await), "count must be between 1 and 4096");
    check("loadDataset", message(engine.load_dataset(vec!["a.npz".into()], vec![])), "one name per file");
    check(
        "loadDataset",
        message(engine.load_dataset(vec!["bad.npz".into()], vec![Uint8Array::from(&b"hello"[..])])),
        "bad.npz: not a .npz",
    );
    check("datasetImages", message(engine.dataset_images("train", 0, 4)), "no dataset is loaded");
    check("datasetLabels", message(engine.dataset_labels("train", 0, 4)), "no dataset is loaded");
    check("startTraining", message(engine.start_training(false)), "load a dataset before training");
    check("scoreSplit", message(engine.score_split("holdout", 4).await), "unknown split `holdout`");
    check("maskPreset", message(Engine::mask_preset("circle", 28)), "unknown mask `circle`");
    check("maskPreset", message(Engine::mask_preset("left_half", 3)), "side must be between 8 and 224");
    check("encodePng", message(Engine::encode_png(&[0; 10], 2, 1, 1)), "expected whole 2×2 RGBA images, got 10 bytes");
    check("encodePng", message(Engine::encode_png(&[0; 16], 2, 0, 1)), "columns must be 1–256");
    check("auroc", message(Engine::auroc(&[], &[1.0])), "at least one energy in each group");
    check("auroc", message(Engine::auroc(&[f32::NAN], &[1.0])), "finite energies only");
    check("encodeGif", message(Engine::encode_gif(vec![], 2, 1, 1)), "a GIF needs 1 to 512 frames");

    // With a small unconditional model and a dataset of 12×12 grayscale images.
    let config =
        EbmConfig { channels: 1, image_size: 12, width: 8, batch_size: 4, buffer_size: 16, langevin_steps: 2, ..EbmConfig::default() };
    let net = dermaebm::EnergyNet::new((&config).into(), &Device::flex());
    let weights = WeightsFile::encode(&config, 3, "test", vec![("model".into(), model_bytes(&net, (&config).into()).await.unwrap())]);
    assert_eq!(message(engine.load_weights(&weights)), "<no error>");
    check("loadWeights", message(engine.load_weights(&weights[..weights.len() - 5])), "truncated or damaged");
    check("generate", message(engine.generate(0, 10, 0, None, None, None, None, None, None).await), "count must be between 1 and 256");
    check("generate", message(engine.generate(2, 5000, 0, None, None, None, None, None, None).await), "steps must be between 1 and 2000");
    check("generate", message(engine.generate(2, 5, 0, Some(2), None, None, None, None, None).await), "not class-conditional");
    check(
        "generate",
        message(engine.generate(2, 5, 0, None, Some("buffer".into()), None, None, None, None).await),
        "unknown start `buffer`",
    );
    check(
        "generate",
        message(engine.generate(2, 5, 0, None, None, None, None, Some("{\"terms\": 3}".into()), None).await),
        "composition is not",
    );
    check(
        "generate",
        message(engine.generate(2, 5, 0, None, None, None, None, None, Some(3)).await),
        "only a denoising model composes class energies or corrects its walk",
    );
    check(
        "generate",
        message(engine.generate(2, 5, 0, None, Some("persistent".into()), None, None, None, None).await),
        "these weights carry no persistent chains",
    );
    check("scoreRgba", message(engine.score_rgba(&[0; 7], 1).await), "expected 1 RGBA images of 12×12 (576 bytes), got 7 bytes");
    check("classifyRgba", message(engine.classify_rgba(&[0; 576], 1).await), "not class-conditional");
    check("inpaint", message(engine.inpaint(&[0; 576], 1, &[1; 5], 5, None).await), "the mask has 5 pixels");
    check("inpaint", message(engine.inpaint(&[0; 576], 1, &[0; 144], 5, None).await), "the mask selects no pixel");
    check("inpaint", message(engine.inpaint(&[0; 500], 1, &[1; 144], 5, None).await), "expected 1 RGBA images");
    check("denoise", message(engine.denoise(&[0; 576], 2, 5, None, None).await), "expected 2 RGBA images");
    check("addNoise", message(engine.add_noise(&[0; 576], 1, f64::NAN).await), "sigma must be between 0 and 2");

    let pixels: Vec<u8> = (0..6 * 144).map(|i| (i % 251) as u8).collect();
    let images = common::npy("|u1", &[6, 12, 12], &pixels, false, 1);
    let labels = common::npy("|u1", &[6], &[0, 1, 2, 0, 1, 2], false, 1);
    let files = vec![Uint8Array::from(images.as_slice()), Uint8Array::from(labels.as_slice())];
    assert_eq!(message(engine.load_dataset(vec!["train_images.npy".into(), "train_labels.npy".into()], files)), "<no error>");
    check("datasetImages", message(engine.dataset_images("train", 6, 1)), "row 6 is past the end of the train split (6 rows)");
    check("datasetImages", message(engine.dataset_images("dev", 0, 1)), "unknown split `dev`");
    check("scoreSplit", message(engine.score_split("val", 4).await), "the dataset has no val split");
    check("classifySplit", message(engine.classify_split("train", 4).await), "not class-conditional");
    check("setConfig", message(engine.set_config(r#"{"channels": 3, "image_size": 12}"#)), "the loaded dataset has 1-channel 12×12 images");
    check("setConfig", message(engine.set_config(r#"{"channels": 1, "image_size": 12, "classes": 2}"#)), "set classes to at least 3");
    check(
        "setConfig",
        message(engine.set_config(r#"{"channels": 1, "image_size": 12, "buffer_size": 2, "batch_size": 4}"#)),
        "must hold at least one batch",
    );

    let failures: Vec<String> = table
        .iter()
        .filter(|(_, got, want)| !got.contains(want))
        .map(|(name, got, want)| format!("{name}: expected an error containing {want:?}, got {got:?}"))
        .collect();
    assert!(failures.is_empty(), "{} of {} checks failed:\n{}", failures.len(), table.len(), failures.join("\n"));

    // Still healthy: a tiny training run and a sample work after all those refusals.
    assert_eq!(message(engine.set_config(&config.to_json())), "<no error>");
    let Ok(training) = engine.start_training(false) else { panic!("a training run starts") };
    let mut check = |name: &'static str, got: String, want: &'static str| table.push((name, got, want));
    let zero = js_sys::JSON::parse(r#"{"iterations": 0}"#).expect("JSON");
    check("Training.run", message(training.run(zero, None).await), "iterations must be at least 1");
    // A misspelt option would silently become its default (a checkpoint every 25): refused by name.
    let misspelt = js_sys::JSON::parse(r#"{"checkpointEvry": 5}"#).expect("JSON");
    check("Training.run", message(training.run(misspelt, None).await), "training options: unknown field `checkpointEvry`");
    assert_eq!(message(training.step().await), "<no error>");
    assert_eq!(training.iteration().ok(), Some(1.0));
    assert_eq!(message(training.buffer_samples(4).await), "<no error>");
    assert_eq!(message(training.save_checkpoint().await), "<no error>");
    assert_eq!(message(engine.generate(2, 3, 0, None, None, None, None, None, None).await), "<no error>");
    // Training here gives persistent chains of its own (the replay buffer) to continue.
    assert_eq!(message(engine.generate(2, 3, 0, None, Some("persistent".into()), None, None, None, None).await), "<no error>");
    // A run whose engine changed configuration is discarded, and says so instead of training on.
    assert_eq!(message(engine.set_config(&config.to_json())), "<no error>");
    check("Training.step", message(training.step().await), "this training run was discarded");
    check("Training.saveCheckpoint", message(training.save_checkpoint().await), "this training run was discarded");
    let failures: Vec<String> = table
        .iter()
        .filter(|(_, got, want)| !got.contains(want))
        .map(|(name, got, want)| format!("{name}: expected an error containing {want:?}, got {got:?}"))
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The engine's answers have exactly the fields js/client.d.ts declares for them (the native
/// test tests/js_types.rs checks the structs shared with the core).
#[wasm_bindgen_test]
async fn engine_answers_match_client_dts() {
    use dermaebm::EbmConfig;
    use dermaebm::wasm::Engine;
    use dermaebm::weights::{WeightsFile, model_bytes};
    use js_sys::Uint8Array;
    const CLIENT_DTS: &str = include_str!("../js/client.d.ts");
    let keys = |value: &wasm_bindgen::JsValue| -> std::collections::BTreeSet<String> {
        js_sys::Reflect::own_keys(value).expect("an object").iter().filter_map(|k| k.as_string()).collect()
    };
    let declared = |name| common::ts_interface_fields(CLIENT_DTS, name);

    let engine = Engine::create("cpu".into()).await.unwrap();
    let config =
        EbmConfig { channels: 1, image_size: 12, width: 8, batch_size: 4, buffer_size: 16, langevin_steps: 2, ..EbmConfig::default() };
    let net = dermaebm::EnergyNet::new((&config).into(), &Device::flex());
    let weights = WeightsFile::encode(&config, 3, "test", vec![("model".into(), model_bytes(&net, (&config).into()).await.unwrap())]);
    let Ok(loaded) = engine.load_weights(&weights) else { panic!("the weights load") };
    assert_eq!(keys(&loaded), declared("LoadedWeights"), "loadWeights");
    let Ok(info) = engine.model_info() else { panic!("modelInfo") };
    assert_eq!(keys(&info), declared("ModelInfo"), "modelInfo");
    let Ok(backend) = engine.backend() else { panic!("backend") };
    assert_eq!(keys(&backend), declared("BackendInfo"), "backend");
    let Ok(samples) = engine.generate(2, 2, 1, None, None, None, None, None, None).await else { panic!("generate") };
    assert_eq!(keys(&samples), declared("Samples"), "generate");
    // Each draw is fresh; its seed reproduces it.
    let field = |v: &wasm_bindgen::JsValue, k: &str| js_sys::Reflect::get(v, &k.into()).unwrap();
    let bytes = |v: &wasm_bindgen::JsValue| Uint8Array::new(&field(v, "samples")).to_vec();
    let seed = field(&samples, "seed").as_f64().expect("a seed");
    let Ok(again) = engine.generate(2, 2, 1, None, None, Some(seed), None, None, None).await else { panic!("generate with a seed") };
    assert_eq!(bytes(&again), bytes(&samples), "the same seed draws the same samples");
    let Ok(other) = engine.generate(2, 2, 1, None, None, None, None, None, None).await else { panic!("generate") };
    assert_ne!(bytes(&other), bytes(&samples), "a new draw differs");
    assert!(message(engine.generate(2, 2, 1, None, None, Some(-1.0), None, None, None).await).contains("seed must be a whole number"));

    let pixels: Vec<u8> = (0..6 * 144).map(|i| (i % 251) as u8).collect();
    let images = common::npy("|u1", &[6, 12, 12], &pixels, false, 1);
    let Ok(_) = engine.load_dataset(vec!["train_images.npy".into()], vec![Uint8Array::from(images.as_slice())]) else { panic!("data") };
    let Ok(training) = engine.start_training(true) else { panic!("a training run starts") };
    let Ok(stats) = training.step().await else { panic!("a step") };
    assert_eq!(keys(&stats), declared("IterStats"), "Training.step");
}

/// The site's classifier: an engine given weights with a stored probe classifies with it (here
/// an unconditional net, whose head could not classify at all), refuses a damaged probe when the
/// file loads, and falls back to the net's head once a training run replaces the loaded net.
#[wasm_bindgen_test]
async fn flex_in_wasm_the_engine_classifies_with_a_stored_probe() {
    use dermaebm::EbmConfig;
    use dermaebm::inference::features;
    use dermaebm::model::ClassProbe;
    use dermaebm::model::probe::fingerprint;
    use dermaebm::wasm::Engine;
    use dermaebm::weights::{WeightsFile, model_bytes};
    use js_sys::Uint8Array;

    let engine = Engine::create("cpu".into()).await.unwrap();
    let config =
        EbmConfig { channels: 1, image_size: 12, width: 8, batch_size: 4, buffer_size: 16, langevin_steps: 2, ..EbmConfig::default() };
    let shape = (&config).into();
    let net = dermaebm::EnergyNet::new(shape, &Device::flex());
    let net_bytes = model_bytes(&net, shape).await.unwrap();
    let file = WeightsFile::decode(&WeightsFile::encode(&config, 3, "test", vec![("model".into(), net_bytes.clone())])).unwrap();
    // Six images of three classes; the probe is fitted on the net's features of exactly these.
    let pixels: Vec<u8> = (0..6 * 144).map(|i| if (i / 144) % 3 == (i % 3) { 250 } else { (i % 7) as u8 }).collect();
    let labels = [0u8, 1, 2, 0, 1, 2];
    let images = dermaebm::data::images_to_tensor(&pixels.chunks(144).collect::<Vec<_>>(), 1, 12, 12, &Device::flex());
    let values = features(&net, images, 6).await.unwrap();
    let probe = ClassProbe::fit(&values, shape.feature_width(), &labels, 3, 1e-3, fingerprint(&net_bytes)).unwrap();

    let mut damaged = probe.clone();
    damaged.bias.pop();
    let refused = message(engine.load_weights(&file.with_probe(&damaged)));
    assert!(refused.contains("probe section is damaged"), "{refused}");

    assert_eq!(message(engine.load_weights(&file.with_probe(&probe))), "<no error>");
    let files = vec![
        Uint8Array::from(common::npy("|u1", &[6, 12, 12], &pixels, false, 1).as_slice()),
        Uint8Array::from(common::npy("|u1", &[6], &labels, false, 1).as_slice()),
    ];
    assert_eq!(message(engine.load_dataset(vec!["train_images.npy".into(), "train_labels.npy".into()], files)), "<no error>");
    let Ok(rows) = engine.classify_rgba(&dermaebm::data::dataset::to_rgba(&pixels[..144], 1), 1).await else {
        panic!("the probe classifies")
    };
    assert_eq!(rows.len(), 3, "one probability per class");
    assert!((rows.iter().sum::<f32>() - 1.0).abs() < 1e-4, "{rows:?}");
    let expected = &probe.probabilities(&values[..shape.feature_width()])[0];
    assert!(rows.iter().zip(expected).all(|(a, b)| (a - b).abs() < 1e-5), "the stored probe's answer: {rows:?} against {expected:?}");
    let field = |value: &wasm_bindgen::JsValue, key: &str| js_sys::Reflect::get(value, &key.into()).expect("an object");
    let Ok(info) = engine.model_info() else { panic!("modelInfo") };
    assert_eq!(field(&info, "classifier").as_string().as_deref(), Some("probe"), "modelInfo names the probe");
    assert_eq!(js_sys::Array::from(&field(&info, "class_names")).length(), 3, "the probe's classes are named");
    let Ok(result) = engine.classify_split("train", 6).await else { panic!("the probe classifies the split") };
    assert_eq!(field(&result, "classifier").as_string().as_deref(), Some("probe"), "classifySplit says who answered");

    // A training run replaces the loaded net: the probe no longer applies, and this
    // unconditional net has no classifier left.
    let Ok(_training) = engine.start_training(true) else { panic!("a training run starts") };
    assert!(message(engine.classify_split("train", 6).await).contains("not class-conditional"));
    let Ok(info) = engine.model_info() else { panic!("modelInfo") };
    assert!(field(&info, "classifier").is_null(), "no classifier once the probe no longer applies");
}

/// Issue 40: a weights file with one flipped bit is refused with the damaged place named, and
/// the engine keeps the model it had — same weights, same iteration, still sampling.
#[wasm_bindgen_test]
async fn flex_in_wasm_a_bit_flipped_weights_file_is_refused_and_the_model_kept() {
    use dermaebm::EbmConfig;
    use dermaebm::wasm::Engine;
    use dermaebm::weights::{WeightsFile, model_bytes};

    let engine = Engine::create("cpu".into()).await.unwrap();
    let config =
        EbmConfig { channels: 1, image_size: 12, width: 8, batch_size: 4, buffer_size: 16, langevin_steps: 2, ..EbmConfig::default() };
    let weights = async |seed: u64, iteration: u64| {
        let device = Device::flex();
        device.seed(seed);
        let net = dermaebm::EnergyNet::new((&config).into(), &device);
        WeightsFile::encode(&config, iteration, "test", vec![("model".into(), model_bytes(&net, (&config).into()).await.unwrap())])
    };
    assert_eq!(message(engine.load_weights(&weights(1, 3).await)), "<no error>");
    // The model's energies of fixed images (its saved bytes carry fresh parameter ids each time).
    let images: Vec<u8> = (0..3 * 12 * 12 * 4).map(|i| (i * 37 % 256) as u8).collect();
    let Ok(before) = engine.score_rgba(&images, 3).await else { panic!("scoreRgba") };

    // Other weights, damaged: one bit in the header JSON, or in the middle of the model section
    // (the file's only section, after the 20-byte prefix and the header).
    let other = weights(2, 9).await;
    let header_end = 20 + u32::from_le_bytes(other[12..16].try_into().unwrap()) as usize;
    let flipped = |at: usize| {
        let mut bytes = other.clone();
        bytes[at] ^= 0x10;
        bytes
    };
    let refused = message(engine.load_weights(&flipped(header_end + (other.len() - header_end) / 2)));
    assert!(refused.contains("truncated or damaged: section `model` fails its checksum"), "{refused}");
    let refused = message(engine.load_weights(&flipped((20 + header_end) / 2)));
    assert!(refused.contains("truncated or damaged: the header fails its checksum"), "{refused}");

    let Ok(after) = engine.score_rgba(&images, 3).await else { panic!("scoreRgba") };
    assert_eq!(before, after, "the engine kept the weights it had");
    let Ok(info) = engine.model_info() else { panic!("modelInfo") };
    let iteration = js_sys::Reflect::get(&info, &"iteration".into()).ok().and_then(|v| v.as_f64());
    assert_eq!(iteration, Some(3.0), "and their iteration");
    assert_eq!(message(engine.generate(2, 3, 0, None, None, None, None, None, None).await), "<no error>");
    // The undamaged file loads: the refusals were the damage, not the file.
    assert_eq!(message(engine.load_weights(&other)), "<no error>");
}
