//! Replay buffer: capacity, ring replacement, in-place chains, and the share of fresh noise.
// Native only: the browser runs these checks through tests/web.rs.
#![cfg(not(target_arch = "wasm32"))]

use dermaebm::Device;
use dermaebm::Tensor;
use dermaebm::buffer::ReplayBuffer;
use dermaebm::inference::read_values;
use dermaebm::platform::block_on;
use rand::SeedableRng;
use rand::rngs::StdRng;

fn filled(n: usize, value: f32, device: &Device) -> Tensor<4> {
    Tensor::<4>::ones([n, 1, 8, 8], device) * value
}

#[test]
fn buffer_never_exceeds_capacity_and_keeps_the_newest() {
    let device = Device::flex();
    let mut buffer = ReplayBuffer::new(100, [1, 8, 8], 0.05, &device);
    assert!(buffer.is_empty());
    for i in 0..7 {
        buffer.push(filled(32, i as f32 / 10.0, &device), &[], &[]);
        assert_eq!(buffer.len(), ((i + 1) * 32).min(100));
    }
    // The newest 32 are the last push; an oversized push keeps only its newest entries.
    let latest = block_on(read_values(buffer.latest(32).unwrap().0)).unwrap();
    assert!(latest.iter().all(|&v| (v - 0.6).abs() < 1e-6));
    buffer.push(filled(250, 0.9, &device), &[], &[]);
    assert_eq!(buffer.len(), 100);
    let all = block_on(read_values(buffer.contents().unwrap())).unwrap();
    assert!(all.iter().all(|&v| (v - 0.9).abs() < 1e-6), "all old entries replaced");
}

#[test]
fn draws_mix_about_five_percent_fresh_noise_with_buffer_entries() {
    let device = Device::flex();
    let mut rng = StdRng::seed_from_u64(11);
    let mut buffer = ReplayBuffer::new(512, [1, 8, 8], 0.05, &device);
    // Empty buffer: everything is fresh noise.
    assert_eq!(buffer.draw(16, &mut rng, &[]).fresh, 16);
    buffer.push(filled(512, 0.25, &device), &[], &[]);
    let (batches, batch) = (200, 128);
    let mut fresh = 0;
    for _ in 0..batches {
        fresh += buffer.draw(batch, &mut rng, &[]).fresh;
    }
    let total = (batches * batch) as f64;
    // Binomial(25600, 0.05): mean 1280, sd ≈ 35; allow 5 sd.
    let fraction = fresh as f64 / total;
    assert!((fraction - 0.05).abs() < 5.0 * (0.05f64 * 0.95 / total).sqrt(), "fresh fraction {fraction}");

    // Buffer rows come back unchanged; fresh rows are uniform noise in [-1, 1], not the fill.
    let draw = buffer.draw(batch, &mut rng, &[]);
    let values = block_on(read_values(draw.images)).unwrap();
    let per_image = 64;
    let (noise, kept) = values.split_at(draw.fresh * per_image);
    assert!(kept.iter().all(|&v| (v - 0.25).abs() < 1e-6));
    assert!(noise.iter().all(|v| (-1.0..=1.0).contains(v)));
    if !noise.is_empty() {
        let spread = noise.iter().cloned().fold(f32::MIN, f32::max) - noise.iter().cloned().fold(f32::MAX, f32::min);
        assert!(spread > 1.0, "fresh images are uniform noise");
    }
}

/// A buffer of `n` one-value images whose slot `i` holds `i` (so each chain is identifiable).
fn numbered(n: usize, in_place: bool, device: &Device) -> ReplayBuffer {
    let mut buffer = ReplayBuffer::with_update(n, [1, 2, 2], 0.05, in_place, device);
    let values: Vec<f32> = (0..n).flat_map(|i| [i as f32; 4]).collect();
    let images = Tensor::<4>::from_data(burn::tensor::TensorData::new(values, [n, 1, 2, 2]), device);
    let labels: Vec<i32> = (0..n as i32).map(|i| i % 7).collect();
    buffer.push(images, &labels, &vec![600; n]);
    buffer
}

/// The chain id each slot holds (its first value), fresh restarts (outside [0, n)) as -1.
fn chain_ids(buffer: &ReplayBuffer, n: usize) -> Vec<i64> {
    let values = block_on(read_values(buffer.contents().unwrap())).unwrap();
    values.chunks(4).map(|c| if c[0] >= 0.0 && (c[0] as usize) < n && c[0].fract() == 0.0 { c[0] as i64 } else { -1 }).collect()
}

#[test]
fn chains_in_place_go_back_to_their_own_slots_and_are_never_copied() {
    let device = Device::flex();
    let mut rng = StdRng::seed_from_u64(5);
    let n = 512;
    let mut buffer = numbered(n, true, &device);
    for _ in 0..40 {
        let draw = buffer.draw(128, &mut rng, &[3]);
        let slots = draw.slots.clone().expect("a full in-place buffer draws slots");
        let mut distinct = slots.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), 128, "the slots of one batch are distinct");
        // Kept chains come back as they were drawn (their id), with their label and age.
        let values = block_on(read_values(draw.images.clone())).unwrap();
        let before = block_on(read_values(buffer.contents().unwrap())).unwrap();
        for (k, &slot) in slots.iter().enumerate().skip(draw.fresh) {
            assert_eq!(values[4 * k..4 * k + 4], before[4 * slot..4 * slot + 4], "batch entry {k} is the chain in slot {slot}");
            assert_eq!(draw.labels[k], buffer.labels()[slot]);
        }
        assert!(draw.labels[..draw.fresh].iter().all(|&l| l == 3), "fresh starts take labels from the pool");
        let ages: Vec<u32> = draw.ages.iter().map(|a| a + 60).collect();
        buffer.put_back(draw.images.clone(), draw.slots.as_deref(), &draw.labels, &ages);
        for (k, &slot) in slots.iter().enumerate() {
            assert_eq!(buffer.ages()[slot], ages[k]);
        }
    }
    assert_eq!(buffer.len(), n);
    // No chain id is held by two slots, and each surviving chain is still in its own slot.
    let ids = chain_ids(&buffer, n);
    for (slot, &id) in ids.iter().enumerate() {
        assert!(id == -1 || id as usize == slot, "slot {slot} holds chain {id}");
    }
    let restarted = ids.iter().filter(|&&id| id == -1).count();
    // Each round draws a quarter of the slots and restarts 5 % of those: 1 − 0.9875⁴⁰ ≈ 40 %
    // of the slots restarted at least once (sd ≈ 2 %).
    assert!(restarted > n / 5 && restarted < n * 3 / 5, "{restarted} of {n} slots restarted from noise");
}

#[test]
fn the_ring_copies_drawn_chains_which_is_what_in_place_avoids() {
    let device = Device::flex();
    let mut rng = StdRng::seed_from_u64(5);
    let n = 512;
    let mut buffer = numbered(n, false, &device);
    for _ in 0..8 {
        let draw = buffer.draw(128, &mut rng, &[]);
        assert!(draw.slots.is_none());
        buffer.put_back(draw.images.clone(), draw.slots.as_deref(), &draw.labels, &draw.ages);
    }
    let mut ids: Vec<i64> = chain_ids(&buffer, n).into_iter().filter(|&id| id >= 0).collect();
    let held = ids.len();
    ids.sort();
    ids.dedup();
    assert!(ids.len() < held * 9 / 10, "{held} slots hold only {} distinct chains", ids.len());
}
