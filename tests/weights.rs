//! The weights/checkpoint file: exact round trip, and every mismatch reported, never misread.
// Native only: the browser runs these checks through tests/web.rs.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use dermaebm::checkpoint::{self, Contents};
use dermaebm::inference::energies;
use dermaebm::platform::block_on;
use dermaebm::weights::{FORMAT_VERSION, WeightsError, WeightsFile, model_bytes};
use dermaebm::{Device, EbmConfig, EnergyNet, NetShape, Trainer, synthetic};

fn saved(config: &EbmConfig, device: &Device) -> (EnergyNet, Vec<u8>) {
    let net = EnergyNet::new(config.into(), device);
    let bytes = block_on(model_bytes(&net, config.into())).unwrap();
    (net, WeightsFile::encode(config, 12, "test", vec![("model".into(), bytes)]))
}

#[test]
fn round_trip_gives_identical_energies() {
    let device = Device::flex();
    let config = common::tiny_config(4);
    let (net, file) = saved(&config, &device);
    let decoded = WeightsFile::decode(&file).unwrap();
    assert_eq!(decoded.header.iteration, 12);
    assert_eq!(decoded.header.config, config);
    let loaded = decoded.model(&device).unwrap();
    let x = synthetic::patterns(8, 1, config.image_size, 0.1, 1, &device);
    let a = block_on(energies(&net, x.clone(), 8)).unwrap();
    let b = block_on(energies(&loaded, x, 8)).unwrap();
    assert_eq!(a, b);
}

#[test]
fn mismatches_are_reported() {
    let device = Device::flex();
    let config = common::tiny_config(4);
    let (_, file) = saved(&config, &device);

    assert_eq!(WeightsFile::decode(b"PK\x03\x04 a zip").err(), Some(WeightsError::NotWeights));
    let mut newer = file.clone();
    newer[8..12].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
    assert_eq!(WeightsFile::decode(&newer).err(), Some(WeightsError::Version { found: FORMAT_VERSION + 1 }));
    assert!(matches!(WeightsFile::decode(&file[..file.len() - 10]).err(), Some(WeightsError::Damaged(_))));

    // A setting this build does not know: a newer writer, said so, not "damaged".
    let header_len = u32::from_le_bytes(file[12..16].try_into().unwrap()) as usize;
    let header = String::from_utf8(file[16..16 + header_len].to_vec()).unwrap();
    let from_future = header.replacen("\"seed\":", "\"future_knob\":1,\"seed\":", 1);
    assert_ne!(from_future, header, "the header names the seed");
    let mut future = file[..12].to_vec();
    future.extend((from_future.len() as u32).to_le_bytes());
    future.extend(from_future.as_bytes());
    future.extend(&file[16 + header_len..]);
    let err = WeightsFile::decode(&future).err().expect("an unknown setting is refused");
    assert!(matches!(err, WeightsError::Newer(_)), "{err}");
    assert!(err.to_string().contains("future_knob") && err.to_string().contains("newer version"), "{err}");

    let other = NetShape { width: config.width * 2, ..NetShape::from(&config) };
    let err = WeightsFile::decode(&file).unwrap().model_for(other, &device).err().unwrap();
    assert!(matches!(err, WeightsError::Architecture { .. }), "{err}");
    assert!(err.to_string().contains("width 16"), "{err}");

    // A model section from another architecture under a header that claims this one.
    let wide = EbmConfig { width: 16, ..config.clone() };
    let (_, wide_file) = saved(&wide, &device);
    let wide_model = WeightsFile::decode(&wide_file).unwrap().section("model").unwrap().to_vec();
    let lying = WeightsFile::encode(&config, 0, "", vec![("model".into(), wide_model)]);
    assert!(matches!(WeightsFile::decode(&lying).unwrap().model(&device).err(), Some(WeightsError::Record(_))));
}

#[test]
fn checkpoint_restores_iteration_optimizer_and_buffer() {
    let device = Device::flex();
    let config = common::tiny_config(6);
    let mut trainer = Trainer::new(config.clone(), &device).unwrap();
    for i in 0..3 {
        let real = synthetic::patterns(config.batch_size, 1, config.image_size, 0.05, i, &trainer.device());
        block_on(trainer.step(real, None)).unwrap();
    }
    let bytes = block_on(checkpoint::save(&trainer, Contents { optimizer: true, buffer: true, newest_chains: None }, "ckpt")).unwrap();
    let file = WeightsFile::decode(&bytes).unwrap();
    assert!(file.section("optimizer").is_some() && file.section("buffer").is_some());
    let mut resumed = checkpoint::restore(&file, config.clone(), &device).unwrap();
    assert_eq!(resumed.iteration(), 3);
    assert_eq!(resumed.buffer().len(), trainer.buffer().len());
    let real = synthetic::patterns(config.batch_size, 1, config.image_size, 0.05, 9, &resumed.device());
    let stats = block_on(resumed.step(real, None)).unwrap();
    assert_eq!(stats.iteration, 4);
    assert!(stats.is_finite());
}

#[test]
fn conditional_checkpoint_keeps_the_buffer_labels() {
    let device = Device::flex();
    let config = common::conditional_config(3);
    let mut trainer = Trainer::new(config.clone(), &device).unwrap();
    for i in 0..2 {
        let (real, labels) = common::labelled_patterns(&config, i, &trainer.device());
        block_on(trainer.step(real, Some(&labels))).unwrap();
    }
    let bytes = block_on(checkpoint::save(&trainer, Contents { optimizer: true, buffer: true, newest_chains: None }, "ckpt")).unwrap();
    let file = WeightsFile::decode(&bytes).unwrap();
    assert_eq!(file.header.net.classes, config.classes);
    let resumed = checkpoint::restore(&file, config.clone(), &device).unwrap();
    assert_eq!(resumed.buffer().labels(), trainer.buffer().labels());
    assert!(resumed.buffer().labels().iter().any(|&l| l != 0), "labels other than 0 survive");
    assert_eq!(resumed.model().classes(), config.classes);

    // An unconditional model cannot take these weights.
    let err = file.model_for(NetShape { classes: 0, ..NetShape::from(&config) }, &device).err().unwrap();
    assert!(err.to_string().contains("4 classes"), "{err}");
}

#[test]
fn big_sections_are_stored_deflated_and_a_lying_size_is_refused() {
    let config = common::tiny_config(2);
    let buffer: Vec<u8> = (0..50_000u32).map(|i| (i % 7) as u8).collect();
    let bytes = WeightsFile::encode(&config, 1, "", vec![("buffer".into(), buffer.clone()), ("notes".into(), vec![1, 2, 3])]);
    assert!(bytes.len() < 10_000, "a repetitive buffer deflates ({} bytes)", bytes.len());
    let file = WeightsFile::decode(&bytes).unwrap();
    assert_eq!(file.section("buffer"), Some(buffer.as_slice()));
    assert_eq!(file.section("notes"), Some(&[1u8, 2, 3][..]));
    assert_eq!(file.header.sections[0].deflated_from, Some(50_000));
    assert_eq!(file.header.sections[1].deflated_from, None, "small sections are stored as they are");
    // A header that lies about the inflated size is caught, not trusted.
    let needle = b"\"deflated_from\":50000";
    let at = bytes.windows(needle.len()).position(|w| w == needle).expect("the header names the inflated size");
    let mut lying = bytes.clone();
    lying[at + needle.len() - 1] = b'1'; // 50001: same length, so the header still parses
    let err = WeightsFile::decode(&lying).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(err.contains("inflates to"), "{err}");
}

#[test]
fn shipped_weights_load_as_an_unconditional_or_conditional_net() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("weights/dermamnist.debm");
    let file = WeightsFile::decode(&std::fs::read(path).unwrap()).unwrap();
    let net = file.model(&Device::flex()).unwrap();
    assert_eq!(net.classes(), file.header.config.classes);
    let x = synthetic::patterns(2, 3, 28, 0.1, 1, &Device::flex());
    let e = block_on(energies(&net, x, 2)).unwrap();
    assert!(e.iter().all(|v| v.is_finite()));
    // The shipped file is also the resumable training state and carries the persistent chains. Adam's state joins it from the next checkpoint on (weights/README.md).
    let chains = dermaebm::persistent::ChainSnapshot::from_file(&file).unwrap().expect("persistent chains");
    assert!(chains.len() >= dermaebm::persistent::SNAPSHOT_CHAINS, "{} chains", chains.len());
    if file.section("optimizer").is_some() {
        assert!(file.section("param_ids").is_some(), "Adam's state comes with the ids it is keyed by");
    }
    // Its classifier is the linear probe fitted on exactly this net (scripts/ship-weights.sh).
    let probe = file.probe().unwrap().expect("a probe fitted on the shipped net");
    assert_eq!((probe.classes, probe.features), (net.classes(), file.header.net.feature_width()));
}

#[test]
fn an_unconditional_net_warm_starts_a_conditional_one() {
    let device = Device::flex();
    let config = common::tiny_config(8);
    let net = EnergyNet::new((&config).into(), &device);
    let x = synthetic::patterns(4, 1, config.image_size, 0.1, 2, &device);
    let before = block_on(energies(&net, x.clone(), 4)).unwrap();
    let conditional = net.into_conditional(3);
    assert_eq!(conditional.classes(), 3);
    // Every class logit starts as the old output, so E(x) = -logsumexp = E_old(x) - ln 3.
    let after = block_on(energies(&conditional, x, 4)).unwrap();
    for (a, b) in before.iter().zip(&after) {
        assert!((a - 3f32.ln() - b).abs() < 1e-4, "{a} vs {b}");
    }
}

#[test]
fn resuming_does_not_grow_the_optimizer_state() {
    let device = Device::flex();
    let config = common::tiny_config(6);
    let mut trainer = Trainer::new(config.clone(), &device).unwrap();
    let step = |t: &mut Trainer, i: u64| {
        let real = synthetic::patterns(config.batch_size, 1, config.image_size, 0.05, i, &t.device());
        block_on(t.step(real, None)).unwrap();
    };
    step(&mut trainer, 0);
    let contents = Contents { optimizer: true, buffer: false, newest_chains: None };
    let optimizer_len = |t: &Trainer| {
        let file = WeightsFile::decode(&block_on(checkpoint::save(t, contents, "")).unwrap()).unwrap();
        file.section("optimizer").unwrap().len()
    };
    let first = optimizer_len(&trainer);
    let file = WeightsFile::decode(&block_on(checkpoint::save(&trainer, contents, "")).unwrap()).unwrap();
    let mut resumed = checkpoint::restore(&file, config.clone(), &device).unwrap();
    step(&mut resumed, 1);
    // Before the fix a resumed model had new parameter ids, so Adam kept the stale entries and
    // added a second set: twice the size. (Ids are serialised as text, so sizes vary by a few bytes.)
    let after = optimizer_len(&resumed);
    assert!(after < first * 3 / 2, "Adam's state grew on resume: {first} → {after} bytes");
}
