//! Persistent chains: kept compactly in checkpoints and weights, restored for training,
//! continued for sampling; and the `.npz` of samples the quality tools read.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use dermaebm::checkpoint::{self, Contents};
use dermaebm::data::{npy, npz};
use dermaebm::export::npz_images;
use dermaebm::inference::read_values;
use dermaebm::persistent::{ChainSnapshot, continue_chains, quantise};
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
        block_on(trainer.step(real)).unwrap();
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
    let newest = block_on(read_values(trainer.buffer().latest(20).unwrap())).unwrap();
    let expected: Vec<u8> = newest.iter().map(|&v| quantise(v)).collect();
    assert_eq!(chains.bytes, expected);

    let mut resumed = checkpoint::restore(&file, config.clone(), &Device::flex()).unwrap();
    assert_eq!((resumed.iteration(), resumed.buffer().len()), (3, 20));
    let real = synthetic::patterns(config.batch_size, 1, config.image_size, 0.05, 7, &resumed.device());
    let stats = block_on(resumed.step(real)).unwrap();
    assert!(stats.is_finite() && stats.iteration == 4);
    assert_eq!(resumed.buffer().len(), 20 + config.batch_size, "the restored buffer fills up again");
}

#[test]
fn picks_are_distinct_up_to_the_snapshot_size_then_repeat() {
    let snapshot = ChainSnapshot { shape: [1, 2, 2], bytes: vec![0; 40], labels: vec![0, 1, 2, 3, 4, 0, 1, 2, 3, 4] };
    let mut rng = StdRng::seed_from_u64(1);
    let mut picks = snapshot.pick(10, None, &mut rng).unwrap();
    picks.sort();
    assert_eq!(picks, (0..10).collect::<Vec<_>>());
    let many = snapshot.pick(25, None, &mut rng).unwrap();
    assert_eq!(many.len(), 25);
    assert!(many.iter().all(|&i| i < 10));
    let of_class = snapshot.pick(6, Some(3), &mut rng).unwrap();
    assert!(of_class.iter().all(|&i| snapshot.labels[i] == 3), "chains of the asked class first: {of_class:?}");
    assert_eq!(snapshot.pick(3, Some(9), &mut rng).unwrap().len(), 3, "a class without chains steers others");
    let empty = ChainSnapshot { shape: [1, 2, 2], bytes: vec![], labels: vec![] };
    assert!(empty.pick(1, None, &mut rng).is_err());
}

#[test]
fn continuing_chains_moves_them_and_zero_steps_returns_them() {
    let (trainer, config) = trained(2);
    let chains = block_on(ChainSnapshot::of_buffer(trainer.buffer())).unwrap().unwrap();
    let device = trainer.device();
    let model = trainer.model().clone();
    let mut rng = StdRng::seed_from_u64(5);
    let stored = LangevinParams { steps: 0, ..LangevinParams::from(&config) };
    let same = block_on(continue_chains(&model, &chains.newest(1), 3, &stored, None, None, &mut rng, &device)).unwrap();
    let values = chains.newest(1).values();
    assert_eq!(same.samples, [values.clone(), values.clone(), values].concat(), "above the snapshot size, starts repeat");
    let moved = block_on(continue_chains(&model, &chains, 4, &LangevinParams::from(&config), Some(5), None, &mut rng, &device)).unwrap();
    assert_eq!(moved.samples.len(), 4 * 144);
    assert!(moved.samples.iter().all(|v| (-1.0..=1.0).contains(v)));
    assert_eq!(moved.chain.first().map(|f| f.0), Some(0));
    assert_ne!(moved.chain.first().unwrap().1, moved.samples, "the chains moved");
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
