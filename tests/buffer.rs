//! Replay buffer: capacity, ring replacement, and the share of fresh noise.
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
