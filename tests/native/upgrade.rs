//! `debm upgrade` (`dermaebm::upgrade`): a file of an older format version rewritten in the
//! current one keeps every section byte for byte and gains its checksums; a file that does not
//! load is not rewritten (its damage would otherwise be sealed under fresh checksums).
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
