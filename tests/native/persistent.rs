//! Persistent chains: kept compactly in checkpoints and weights, restored for training,
//! continued for sampling; and the `.npz` of samples the quality tools read.
#![cfg(not(target_arch = "wasm32"))]

use crate::common;

use dermaebm::checkpoint::{self, Contents};
use dermaebm::data::{npy, npz};
use dermaebm::export::npz_images;
use dermaebm::inference::read_values;
use dermaebm::persistent::{BURN_IN_STEPS, ChainSnapshot, continue_chains, quantise};
use dermaebm::platform::block_on;
use dermaebm::sampler::LangevinParams;
use dermaebm::weights::WeightsFile;
use dermaebm::{Device, Trainer, synthetic};
use rand::SeedableRng;
use rand::rngs::StdRng;

fn trained(iterations: u64) -> (Trainer, dermaebm::EbmConfig) {
    let config = common::tiny_config(11);
    let mut trainer = Trainer::new(config.clone(), &Device::flex()).unwrap();
    for i in 0..iterations {
        let real = synthetic::patterns(config.batch_size, 1, config.image_size, 0.05, i, &trainer.device());
        block_on(trainer.step(real, None)).unwrap();
    }
    (trainer, config)
}

#[test]
fn a_compact_checkpoint_keeps_the_newest_chains_and_resumes() {
    let (trainer, config) = trained(3);
    let contents = Contents { optimizer: true, buffer: true, newest_chains: Some(20) };
    let file = WeightsFile::decode(&block_on(checkpoint::save(&trainer, contents, "compact")).unwrap()).unwrap();
    let chains = ChainSnapshot::from_file(&file).unwrap().expect("the checkpoint holds chains");
    assert_eq!(chains.len(), 20);
    // The newest 20 of the buffer, oldest first, as bytes.
    let newest = block_on(read_values(trainer.buffer().latest(20).unwrap().0)).unwrap();
    let expected: Vec<u8> = newest.iter().map(|&v| quantise(v)).collect();
    assert_eq!(chains.bytes, expected);

    let mut resumed = checkpoint::restore(&file, config.clone(), &Device::flex()).unwrap();
    assert_eq!((resumed.iteration(), resumed.buffer().len()), (3, 20));
    let real = synthetic::patterns(config.batch_size, 1, config.image_size, 0.05, 7, &resumed.device());
    let stats = block_on(resumed.step(real, None)).unwrap();
    assert!(stats.is_finite() && stats.iteration == 4);
    assert_eq!(resumed.buffer().len(), 20 + config.batch_size, "the restored buffer fills up again");
}

#[test]
fn picks_are_distinct_up_to_the_snapshot_size_then_repeat() {
    let snapshot = ChainSnapshot { shape: [1, 2, 2], bytes: vec![0; 40], labels: vec![0, 1, 2, 3, 4, 0, 1, 2, 3, 4], ages: vec![0; 10] };
    let mut rng = StdRng::seed_from_u64(1);
    let mut picks = snapshot.pick(10, None, BURN_IN_STEPS, &mut rng).unwrap();
    picks.sort();
    assert_eq!(picks, (0..10).collect::<Vec<_>>());
    let many = snapshot.pick(25, None, BURN_IN_STEPS, &mut rng).unwrap();
    assert_eq!(many.len(), 25);
    assert!(many.iter().all(|&i| i < 10));
    let of_class = snapshot.pick(6, Some(3), BURN_IN_STEPS, &mut rng).unwrap();
    assert!(of_class.iter().all(|&i| snapshot.labels[i] == 3), "chains of the asked class first: {of_class:?}");
    assert_eq!(snapshot.pick(3, Some(9), BURN_IN_STEPS, &mut rng).unwrap().len(), 3, "a class without chains steers others");
    let empty = ChainSnapshot { shape: [1, 2, 2], bytes: vec![], labels: vec![], ages: vec![] };
    assert!(empty.pick(1, None, BURN_IN_STEPS, &mut rng).is_err());
}

#[test]
fn chains_past_their_burn_in_are_continued_first() {
    let ages = vec![0, BURN_IN_STEPS, 10, BURN_IN_STEPS + 500, 0, 0];
    let snapshot = ChainSnapshot { shape: [1, 2, 2], bytes: vec![0; 24], labels: vec![0, 0, 1, 1, 1, 2], ages };
    let mut rng = StdRng::seed_from_u64(2);
    for _ in 0..20 {
        assert!(snapshot.pick(2, None, BURN_IN_STEPS, &mut rng).unwrap().iter().all(|&i| i == 1 || i == 3));
    }
    assert_eq!(snapshot.pick(1, Some(1), BURN_IN_STEPS, &mut rng).unwrap(), vec![3], "class 1's only burnt-in chain");
    assert_eq!(snapshot.pick(1, Some(2), BURN_IN_STEPS, &mut rng).unwrap(), vec![5], "class 2 has no burnt-in chain: its young one");
    assert_eq!(snapshot.pick(6, None, 0, &mut rng).unwrap().len(), 6, "min_age 0: every chain");
}

#[test]
fn training_counts_each_chains_steps_and_checkpoints_keep_them() {
    let config = dermaebm::EbmConfig { fresh_langevin_steps: 40, ..common::tiny_config(12) };
    let mut trainer = Trainer::new(config.clone(), &Device::flex()).unwrap();
    let real = synthetic::patterns(config.batch_size, 1, config.image_size, 0.05, 0, &trainer.device());
    block_on(trainer.step(real, None)).unwrap();
    // The first iteration starts every chain from noise: 40 steps each.
    assert!(trainer.buffer().ages().iter().all(|&a| a == 40), "{:?}", trainer.buffer().ages());
    for i in 1..6 {
        let real = synthetic::patterns(config.batch_size, 1, config.image_size, 0.05, i, &trainer.device());
        block_on(trainer.step(real, None)).unwrap();
    }
    let steps = config.langevin_steps as u32;
    assert!(trainer.buffer().ages().iter().all(|&a| a >= 40 && (a - 40) % steps == 0), "{:?}", trainer.buffer().ages());
    assert!(trainer.buffer().ages().iter().any(|&a| a > 40), "continued chains grow older");
    let file = WeightsFile::decode(
        &block_on(checkpoint::save(&trainer, Contents { optimizer: false, buffer: true, newest_chains: None }, "")).unwrap(),
    )
    .unwrap();
    let chains = ChainSnapshot::from_file(&file).unwrap().unwrap();
    let restored = checkpoint::restore(&file, config, &Device::flex()).unwrap();
    assert_eq!(restored.buffer().ages(), chains.ages.as_slice());
    let mut sorted_saved = chains.ages.clone();
    let mut sorted_live = trainer.buffer().ages().to_vec();
    sorted_saved.sort();
    sorted_live.sort();
    assert_eq!(sorted_saved, sorted_live);
}

#[test]
fn continuing_chains_moves_them_and_zero_steps_returns_them() {
    let (trainer, config) = trained(2);
    let chains = block_on(ChainSnapshot::of_buffer(trainer.buffer())).unwrap().unwrap();
    let device = trainer.device();
    let model = trainer.model().clone();
    let mut rng = StdRng::seed_from_u64(5);
    let stored = LangevinParams { steps: 0, ..LangevinParams::from(&config) };
    let same = block_on(continue_chains(&model, &chains.newest(1), 3, &stored, None, None, BURN_IN_STEPS, &mut rng, &device)).unwrap();
    let values = chains.newest(1).values();
    assert_eq!(same.samples, [values.clone(), values.clone(), values].concat(), "above the snapshot size, starts repeat");
    let moved =
        block_on(continue_chains(&model, &chains, 4, &LangevinParams::from(&config), Some(5), None, BURN_IN_STEPS, &mut rng, &device))
            .unwrap();
    assert_eq!(moved.samples.len(), 4 * 144);
    assert!(moved.samples.iter().all(|v| (-1.0..=1.0).contains(v)));
    assert_eq!(moved.chain.first().map(|f| f.step), Some(0));
    assert_ne!(moved.chain.first().unwrap().values, moved.samples, "the chains moved");
}

#[test]
fn samples_npz_holds_one_uint8_array_of_images() {
    let images: Vec<Vec<u8>> = (0..3u8).map(|i| (0..28 * 28 * 3).map(|p| (p as u8).wrapping_add(i)).collect()).collect();
    let bytes = npz_images(&images, 28, 3).unwrap();
    let entries = npz::read_entries(&bytes, "s.npz", Default::default()).unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].0, "images");
    let array = npy::parse(&entries[0].1, "s.npz", "images").unwrap();
    assert_eq!(array.shape, vec![3, 28, 28, 3]);
    assert!(array.is_u8());
    assert_eq!(array.data, images.concat().as_slice());
}
