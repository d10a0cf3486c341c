//! `debm upgrade` (`dermaebm::upgrade`): a file of an older format version rewritten in the
//! current one keeps every section byte for byte and gains its checksums; a file that does not
//! load is not rewritten (its damage would otherwise be sealed under fresh checksums). `debm strip`
//! (`sampling_only`): the sampling-only copy keeps the net that samples (and its persistent chains)
//! byte for byte, and a run continues from it.
#![cfg(not(target_arch = "wasm32"))]

use crate::common;
use crate::weights::{flipped, old_version, refusal, small_checkpoint};

use dermaebm::platform::block_on;
use dermaebm::upgrade::{UpgradeError, upgrade};
use dermaebm::weights::{FORMAT_VERSION, WeightsFile, model_bytes};
use dermaebm::{Device, EnergyNet};

#[test]
fn an_old_file_is_rewritten_in_the_current_version_with_every_section_kept() {
    let (bytes, config) = small_checkpoint();
    for (version, old) in [(2, old_version(bytes, 2, false)), (1, old_version(bytes, 1, true))] {
        let before = WeightsFile::decode(&old).unwrap();
        let upgraded = upgrade(&old).unwrap_or_else(|e| panic!("version {version}: {e}"));
        assert_eq!(upgraded.from_version, version);
        assert_eq!(u32::from_le_bytes(upgraded.bytes[8..12].try_into().unwrap()), FORMAT_VERSION);
        let after = WeightsFile::decode(&upgraded.bytes).unwrap();
        assert_eq!(after.header.format_version, FORMAT_VERSION);
        assert!(after.sections == before.sections, "version {version}: every section, byte for byte");
        assert_eq!(upgraded.sections, before.sections.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>());
        let (a, b) = (&before.header, &after.header);
        assert_eq!((&a.config, a.iteration, &a.note, a.net), (&b.config, b.iteration, &b.note, b.net), "version {version}: the header");
        assert!(after.header.sections.iter().all(|s| s.crc32.is_some()), "every section carries its checksum");
        // What the checksums are for: issue 40's trial (one bit at k/13 of the length), which
        // the old file does not survive, is refused 12 times out of 12 once it is rewritten.
        let trial = |file: &[u8]| (1..=12).filter(|k| refusal(&flipped(file, file.len() * k / 13, k % 8), config).is_some()).count();
        let (old_refused, new_refused) = (trial(&old), trial(&upgraded.bytes));
        eprintln!("version {version}: {old_refused} / 12 damaged copies refused; rewritten: {new_refused} / 12");
        assert!(old_refused < 12, "version {version} without checksums loads some damaged copies");
        assert_eq!(new_refused, 12);
    }
    // A current file is rewritten as it is.
    assert!(upgrade(bytes).unwrap().bytes == *bytes, "the encoder is deterministic");
}

#[test]
fn a_file_that_does_not_load_is_not_rewritten() {
    use burn::module::{Module, ModuleMapper, Param};
    /// Sets every weight to NaN.
    struct Poison;
    impl ModuleMapper for Poison {
        fn map_float<const D: usize>(&mut self, param: Param<dermaebm::Tensor<D>>) -> Param<dermaebm::Tensor<D>> {
            let poisoned = param.val().without_autodiff().mul_scalar(f32::NAN);
            Param::initialized(param.id, poisoned)
        }
    }
    let config = common::tiny_config(3);
    let net = EnergyNet::new((&config).into(), &Device::flex()).map(&mut Poison);
    let bad = block_on(model_bytes(&net, (&config).into())).unwrap();
    let v3 = WeightsFile::encode(&config, 4, "poisoned", vec![("model".into(), bad)]);
    // Version 2 has no checksum to catch this; loading the net does, and nothing is written.
    let old = old_version(&v3, 2, false);
    match upgrade(&old) {
        Err(UpgradeError::Refused(e)) => assert!(e.to_string().contains("section `model` holds"), "{e}"),
        Err(e) => panic!("refused for another reason: {e}"),
        Ok(_) => panic!("a file whose net is NaN was rewritten with fresh checksums"),
    }
    // Nor is a damaged version 3 file.
    let (bytes, _) = small_checkpoint();
    let damaged = flipped(bytes, bytes.len() / 2, 3);
    let err = upgrade(&damaged).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(err.contains("fails its checksum"), "{err}");
}

/// Energies of a fixed batch under the sampling net of `file` and under the net a run restored
/// from it trains.
fn energies(file: &WeightsFile, config: &dermaebm::EbmConfig) -> (Vec<f32>, Vec<f32>, u64) {
    let device = Device::flex();
    let x = dermaebm::Tensor::<4>::from_data(
        burn::tensor::TensorData::new((0..4 * 64).map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0).collect::<Vec<f32>>(), [4, 1, 8, 8]),
        &device,
    );
    use burn::module::Module;
    let values = |t: dermaebm::Tensor<1>| t.into_data().iter::<f32>().collect::<Vec<f32>>();
    let sampled = file.model(&device).unwrap().energy(x.clone());
    let trainer = dermaebm::checkpoint::restore(file, config.clone(), &device).unwrap();
    let trained = trainer.model().valid().energy(x.to_device(&device));
    (values(sampled), values(trained), trainer.iteration())
}

#[test]
fn a_sampling_only_copy_keeps_the_net_that_samples_and_a_run_continues_from_it() {
    use dermaebm::checkpoint::{self, Contents};
    use dermaebm::upgrade::sampling_only;
    let _lock = crate::common::device_rng_lock();
    let config = crate::denoising::tiny_denoising_config(6);
    let mut trainer = dermaebm::trainer::Trainer::new(config.clone(), &Device::flex()).unwrap();
    for i in 0..4 {
        let real = dermaebm::synthetic::patterns(config.batch_size, 1, config.image_size, 0.05, i, &trainer.device());
        block_on(trainer.step(real, None)).unwrap();
    }
    let full = block_on(checkpoint::save(&trainer, Contents { optimizer: true, buffer: true, newest_chains: None }, "full")).unwrap();
    let stripped = sampling_only(&full).unwrap();
    assert_eq!(stripped.kept, ["model"]);
    for name in ["training_model", "optimizer", "param_ids"] {
        assert!(stripped.dropped.iter().any(|d| d == name), "{name} is training state: {:?}", stripped.dropped);
    }
    assert!(stripped.bytes.len() * 2 < full.len(), "{} of {} bytes", stripped.bytes.len(), full.len());
    let (before, after) = (WeightsFile::decode(&full).unwrap(), WeightsFile::decode(&stripped.bytes).unwrap());
    assert!(before.section("model") == after.section("model"), "the net that samples, byte for byte");
    assert_eq!((after.header.iteration, &after.header.note), (before.header.iteration, &before.header.note));
    // The full checkpoint resumes the trained weights (behind the moving average); the copy
    // resumes from the sampled net itself, at the same iteration, and trains on.
    let (sampled, trained_full, iteration) = energies(&before, &config);
    assert_ne!(sampled, trained_full, "the moving average differs from the trained weights after 4 updates");
    let (sampled_copy, trained_copy, iteration_copy) = energies(&after, &config);
    assert_eq!(sampled_copy, sampled, "the copy samples as the checkpoint does");
    assert_eq!(trained_copy, sampled, "a run from the copy starts at the sampled net");
    assert_eq!(iteration_copy, iteration);
    let mut resumed = checkpoint::restore(&after, config.clone(), &Device::flex()).unwrap();
    let real = dermaebm::synthetic::patterns(config.batch_size, 1, config.image_size, 0.05, 9, &resumed.device());
    let stats = block_on(resumed.step(real, None)).unwrap();
    assert!(stats.loss.is_finite() && resumed.iteration() == iteration + 1);
}

#[test]
fn a_sampling_only_copy_keeps_the_persistent_chains_and_refuses_damage() {
    use dermaebm::persistent::ChainSnapshot;
    use dermaebm::upgrade::{UpgradeError, sampling_only};
    let (bytes, _) = small_checkpoint();
    let stripped = sampling_only(bytes).unwrap();
    assert_eq!(stripped.kept, ["model", "buffer", "buffer_ages"], "an unconditional model's chains have no labels");
    assert!(stripped.dropped.iter().any(|d| d == "optimizer"));
    let chains = |b: &[u8]| ChainSnapshot::from_file(&WeightsFile::decode(b).unwrap()).unwrap().expect("chains");
    assert_eq!(chains(&stripped.bytes), chains(bytes), "a contrastive model continues the same chains");
    let damaged = flipped(bytes, bytes.len() / 3, 5);
    match sampling_only(&damaged) {
        Err(UpgradeError::Refused(e)) => assert!(e.to_string().contains("fails its checksum"), "{e}"),
        Err(e) => panic!("refused for another reason: {e}"),
        Ok(_) => panic!("a damaged file was cut down and sealed under fresh checksums"),
    }
}
