//! The weights/checkpoint file: exact round trip, every mismatch reported, never misread, and
//! damage (a flipped bit anywhere, a NaN weight) refused with the damaged place named.
// Native only: the browser runs these checks through tests/web.rs.
#![cfg(not(target_arch = "wasm32"))]

use crate::common;

use dermaebm::checkpoint::{self, Contents};
use dermaebm::inference::energies;
use dermaebm::platform::block_on;
use dermaebm::weights::{FORMAT_VERSION, WeightsError, WeightsFile, model_bytes};
use dermaebm::{Device, EbmConfig, EnergyNet, NetShape, Trainer, synthetic};

/// Where a version 3 file's header JSON lies: after magic, version, length and checksum.
fn header_range(file: &[u8]) -> std::ops::Range<usize> {
    let len = u32::from_le_bytes(file[12..16].try_into().unwrap()) as usize;
    20..20 + len
}

/// `file` (version 3) with its header JSON rewritten by `edit`, and its length and checksum made
/// to match, as a writer would: how the checks behind the checksum are reached.
fn reheader(file: &[u8], edit: impl FnOnce(&str) -> String) -> Vec<u8> {
    let range = header_range(file);
    let json = edit(std::str::from_utf8(&file[range.clone()]).unwrap());
    let mut out = file[..12].to_vec();
    out.extend((json.len() as u32).to_le_bytes());
    out.extend(crc32fast::hash(json.as_bytes()).to_le_bytes());
    out.extend(json.as_bytes());
    out.extend(&file[range.end..]);
    out
}

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
    let future = reheader(&file, |header| {
        let from_future = header.replacen("\"seed\":", "\"future_knob\":1,\"seed\":", 1);
        assert_ne!(from_future, header, "the header names the seed");
        from_future
    });
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
    // (With the header's checksum made to match: a flipped bit would fail that first.)
    let lying = reheader(&bytes, |header| {
        assert!(header.contains("\"deflated_from\":50000"), "the header names the inflated size");
        header.replacen("\"deflated_from\":50000", "\"deflated_from\":50001", 1)
    });
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

/// A small trained trainer's checkpoint with everything a checkpoint can hold (net, Adam's state
/// with its parameter ids, the replay buffer), and its configuration; trained once for all the
/// damage tests.
pub(crate) fn small_checkpoint() -> &'static (Vec<u8>, EbmConfig) {
    static CHECKPOINT: std::sync::OnceLock<(Vec<u8>, EbmConfig)> = std::sync::OnceLock::new();
    CHECKPOINT.get_or_init(|| {
        let config = common::tiny_config(5);
        let mut trainer = Trainer::new(config.clone(), &Device::flex()).unwrap();
        for i in 0..3 {
            let real = synthetic::patterns(config.batch_size, 1, config.image_size, 0.05, i, &trainer.device());
            block_on(trainer.step(real, None)).unwrap();
        }
        let contents = Contents { optimizer: true, buffer: true, newest_chains: None };
        (block_on(checkpoint::save(&trainer, contents, "damage")).unwrap(), config)
    })
}

/// `bytes` with bit `bit` of byte `at` flipped.
pub(crate) fn flipped(bytes: &[u8], at: usize, bit: usize) -> Vec<u8> {
    let mut out = bytes.to_vec();
    out[at] ^= 1 << bit;
    out
}

/// Why loading `bytes` is refused, loaded the way the site loads a file (net, persistent chains,
/// probe) and a resumed run does (`checkpoint::restore`); `None` if it all loads.
pub(crate) fn refusal(bytes: &[u8], config: &EbmConfig) -> Option<WeightsError> {
    let load = || -> Result<(), WeightsError> {
        let file = WeightsFile::decode(bytes)?;
        file.model(&Device::flex())?;
        dermaebm::persistent::ChainSnapshot::from_file(&file)?;
        file.probe()?;
        checkpoint::restore(&file, config.clone(), &Device::flex())?;
        Ok(())
    };
    load().err()
}

#[test]
fn a_flipped_bit_in_the_header_or_any_section_is_refused_naming_it() {
    let (bytes, _) = small_checkpoint();
    let file = WeightsFile::decode(bytes).unwrap();
    let names: Vec<&str> = file.header.sections.iter().map(|s| s.name.as_str()).collect();
    for name in ["model", "optimizer", "param_ids", "buffer", "buffer_ages"] {
        assert!(names.contains(&name), "the checkpoint has a `{name}` section: {names:?}");
    }
    let damaged = |at: usize, bit: usize| WeightsFile::decode(&flipped(bytes, at, bit)).err().map(|e| e.to_string()).unwrap_or_default();
    let header = header_range(bytes);
    let header_fails = "the weights file is truncated or damaged: the header fails its checksum";
    assert_eq!(damaged(header.start + header.len() / 2, 3), header_fails, "a bit of the header JSON");
    assert_eq!(damaged(17, 0), header_fails, "a bit of the header's checksum");
    assert!(damaged(12, 0).contains("truncated or damaged"), "a bit of the header's length");
    // One bit in the middle of each section, deflated or not, small or large.
    let mut offset = header.end;
    for s in &file.header.sections {
        assert!(s.len > 0, "section `{}` is empty", s.name);
        assert_eq!(
            damaged(offset + s.len as usize / 2, 5),
            format!("the weights file is truncated or damaged: section `{}` fails its checksum", s.name)
        );
        offset += s.len as usize;
    }
    assert_eq!(offset, bytes.len(), "the sections end the file");
    assert!(damaged(0, 0).contains("not a weights file"), "a bit of the magic");
}

/// Issue 40's trial: one bit flipped at 1/13, 2/13, … 12/13 of a file's length. Version 2
/// loaded 10 of 12 such copies of the shipped weights; all 12 must be refused.
#[test]
fn twelve_single_bit_flips_across_a_checkpoint_are_all_refused() {
    let (bytes, config) = small_checkpoint();
    assert!(refusal(bytes, config).is_none(), "the undamaged checkpoint loads");
    let mut refused = Vec::new();
    for k in 1..=12 {
        let at = bytes.len() * k / 13;
        let err = refusal(&flipped(bytes, at, k % 8), config);
        eprintln!("bit {} of byte {at} of {}: {err:?}", k % 8, bytes.len());
        refused.extend(err);
    }
    assert_eq!(refused.len(), 12, "{refused:?}");
    assert!(refused.iter().all(|e| e.to_string().contains("fails its checksum")), "{refused:?}");
}

/// `bytes` (version 3) as an encoder of `version` 1 or 2 wrote it: magic, version, header
/// length, the header without checksums, the stored sections — deflated ones as they are
/// (version 2), or `inflated` (version 1 had no deflated sections).
pub(crate) fn old_version(bytes: &[u8], version: u32, inflated: bool) -> Vec<u8> {
    let v3 = WeightsFile::decode(bytes).unwrap();
    let header = header_range(bytes);
    let mut json: serde_json::Value = serde_json::from_slice(&bytes[header.clone()]).unwrap();
    json["format_version"] = version.into();
    for (s, (_, content)) in json["sections"].as_array_mut().unwrap().iter_mut().zip(&v3.sections) {
        let s = s.as_object_mut().unwrap();
        assert!(s.remove("crc32").is_some(), "a version 3 section carries its checksum");
        if inflated {
            s.remove("deflated_from");
            s.insert("len".into(), content.len().into());
        }
    }
    let json = serde_json::to_vec(&json).unwrap();
    let mut out = b"DEBMWTS\0".to_vec();
    out.extend(version.to_le_bytes());
    out.extend((json.len() as u32).to_le_bytes());
    out.extend(&json);
    match inflated {
        true => v3.sections.iter().for_each(|(_, content)| out.extend(content)),
        false => out.extend(&bytes[header.end..]),
    }
    out
}

#[test]
fn version_1_and_2_files_without_checksums_still_load() {
    let (bytes, config) = small_checkpoint();
    let v3 = WeightsFile::decode(bytes).unwrap();
    // Version 1 had no deflated sections.
    for (version, file) in [(2, old_version(bytes, 2, false)), (1, old_version(bytes, 1, true))] {
        let decoded = WeightsFile::decode(&file).unwrap_or_else(|e| panic!("version {version}: {e}"));
        assert_eq!(decoded.header.format_version, version);
        assert_eq!(decoded.header.iteration, v3.header.iteration);
        assert!(decoded.sections == v3.sections, "version {version} holds the same sections");
        assert_eq!(refusal(&file, config).map(|e| e.to_string()), None, "version {version} loads and resumes");
    }
    assert!(
        old_version(bytes, 2, false).len() < old_version(bytes, 1, true).len(),
        "the version 2 file keeps its deflated sections deflated"
    );
}

#[test]
fn a_net_with_a_non_finite_weight_is_refused_naming_its_section() {
    use burn::module::{Module, ModuleMapper, Param};
    /// Multiplies the first parameter by +∞: its non-zero weights become infinite, zeros NaN.
    struct Poison(bool);
    impl ModuleMapper for Poison {
        fn map_float<const D: usize>(&mut self, param: Param<dermaebm::Tensor<D>>) -> Param<dermaebm::Tensor<D>> {
            if std::mem::replace(&mut self.0, true) {
                return param;
            }
            let poisoned = param.val().without_autodiff().mul_scalar(f32::INFINITY);
            Param::initialized(param.id, poisoned)
        }
    }
    let device = Device::flex();
    let config = common::tiny_config(4);
    let net = EnergyNet::new((&config).into(), &device);
    let good = block_on(model_bytes(&net, (&config).into())).unwrap();
    let bad = block_on(model_bytes(&net.map(&mut Poison(false)), (&config).into())).unwrap();

    // The checksums pass (the writer wrote the infinity); loading the net refuses it.
    let file = WeightsFile::decode(&WeightsFile::encode(&config, 1, "", vec![("model".into(), bad.clone())])).unwrap();
    let err = file.model(&device).expect_err("a net with infinite weights is refused");
    assert!(matches!(err, WeightsError::Damaged(_)), "{err}");
    assert!(err.to_string().contains("section `model` holds") && err.to_string().contains("NaN or infinite weights"), "{err}");
    // A checkpoint's weights being trained are named as that section, and a resume refuses them.
    let sections = vec![("model".into(), good), (dermaebm::weights::section::TRAINING_MODEL.into(), bad)];
    let file = WeightsFile::decode(&WeightsFile::encode(&config, 1, "", sections)).unwrap();
    assert!(file.model(&device).is_ok(), "the `model` section itself is sound");
    let err = file.model_section(dermaebm::weights::section::TRAINING_MODEL, &device).expect_err("refused");
    assert!(err.to_string().contains("section `training_model` holds"), "{err}");
    assert!(checkpoint::restore(&file, config, &device).is_err(), "a resume from it is refused");
}

/// `file` (version 3) with the header entry of its first section that satisfies `pick` edited
/// by `edit` (length and checksum of the header made to match); the section's name.
fn with_section_entry(
    file: &[u8],
    pick: impl Fn(&serde_json::Value) -> bool,
    edit: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>),
) -> (Vec<u8>, String) {
    let mut name = String::new();
    let out = reheader(file, |header| {
        let mut json: serde_json::Value = serde_json::from_str(header).unwrap();
        let entry = json["sections"].as_array_mut().unwrap().iter_mut().find(|s| pick(s)).expect("a section to edit");
        name = entry["name"].as_str().unwrap().to_string();
        edit(entry.as_object_mut().unwrap());
        serde_json::to_string(&json).unwrap()
    });
    (out, name)
}

#[test]
fn a_version_3_file_with_bytes_after_its_last_section_is_refused() {
    let (bytes, _) = small_checkpoint();
    let mut longer = bytes.clone();
    longer.extend([0u8; 3]);
    let err = WeightsFile::decode(&longer).err().map(|e| e.to_string()).unwrap_or_default();
    assert_eq!(err, "the weights file is truncated or damaged: 3 bytes follow the last section");
}

#[test]
fn a_version_3_section_without_its_checksum_is_refused() {
    let (bytes, _) = small_checkpoint();
    // The header's own checksum matches: the missing entry is what is refused.
    let (file, name) = with_section_entry(
        bytes,
        |s| s["name"] == "optimizer",
        |s| {
            assert!(s.remove("crc32").is_some(), "a version 3 section carries its checksum");
        },
    );
    let err = WeightsFile::decode(&file).err().map(|e| e.to_string()).unwrap_or_default();
    assert_eq!(err, format!("the weights file is truncated or damaged: section `{name}` has no checksum"));
}

/// The size caps a file meets when it is decoded: its header (1 MiB) and what a deflated section
/// may inflate to (2 GiB), each refused before anything is allocated for it. (There is no cap on
/// a whole file: its stored sections are bounded by its own length.)
#[test]
fn a_header_or_an_inflated_section_over_its_size_cap_is_refused() {
    let config = common::tiny_config(2);
    let net = EnergyNet::new((&config).into(), &Device::flex());
    let model = block_on(model_bytes(&net, (&config).into())).unwrap();
    // A writer may put anything in the note; a reader takes at most 1 MiB of header.
    let long_note = "x".repeat((1 << 20) + 1);
    let file = WeightsFile::encode(&config, 1, &long_note, vec![("model".into(), model.clone())]);
    let len = u32::from_le_bytes(file[12..16].try_into().unwrap());
    let err = WeightsFile::decode(&file).err().map(|e| e.to_string()).unwrap_or_default();
    assert_eq!(err, format!("the weights file is truncated or damaged: the header claims {len} bytes, more than the 1048576 allowed"));
    // Just under the cap the same file loads.
    let note = "x".repeat((1 << 20) - 4096);
    assert!(WeightsFile::decode(&WeightsFile::encode(&config, 1, &note, vec![("model".into(), model)])).is_ok());

    let (bytes, _) = small_checkpoint();
    let claimed = (1u64 << 31) + 1;
    let (file, name) = with_section_entry(
        bytes,
        |s| s.get("deflated_from").is_some(),
        |s| {
            s.insert("deflated_from".into(), claimed.into());
        },
    );
    let err = WeightsFile::decode(&file).err().map(|e| e.to_string()).unwrap_or_default();
    assert_eq!(
        err,
        format!("the weights file is truncated or damaged: section `{name}` claims {claimed} bytes inflated, more than allowed")
    );
}
