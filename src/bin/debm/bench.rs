//! `debm bench`: seconds per CD iteration (the reference recipe by default), Langevin
//! throughput, sampling time and peak memory, as one JSON object.

use anyhow::{Result, bail};
use dermaebm::buffer::ReplayBuffer;
use dermaebm::inference::read_values;
use dermaebm::platform::{Instant, block_on};
use dermaebm::sampler::{LangevinParams, langevin};
use dermaebm::{EbmConfig, Trainer, synthetic};
use serde_json::json;

use crate::common;

#[derive(clap::Args)]
pub struct Args {
    /// Timed CD iterations (after the warm-up).
    #[arg(long, default_value_t = 5)]
    iterations: usize,
    #[arg(long, default_value_t = 1)]
    warmup: usize,
    #[arg(long, default_value_t = 128)]
    batch: usize,
    #[arg(long, default_value_t = 60)]
    steps: usize,
    #[arg(long, default_value = "auto")]
    backend: String,
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 }
}

/// Peak resident memory of this process (Linux), in bytes.
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    Some(line.split_whitespace().nth(1)?.parse::<u64>().ok()? * 1024)
}

pub fn run(args: Args) -> Result<()> {
    if args.iterations == 0 {
        bail!("--iterations must be at least 1");
    }
    let (device, info) = common::device(&args.backend)?;
    let config = EbmConfig { batch_size: args.batch, langevin_steps: args.steps, ..EbmConfig::default() };
    config.validate()?;
    let mut trainer = Trainer::new(config.clone(), &device)?;
    let shape = config.image_shape();
    let mut times = Vec::new();
    for i in 0..args.warmup + args.iterations {
        let real = synthetic::patterns(config.batch_size, shape[0], shape[1], 0.05, i as u64, &trainer.device());
        let t = Instant::now();
        block_on(trainer.step(real, None))?;
        if i >= args.warmup {
            times.push(t.elapsed().as_secs_f64());
        }
    }
    let min = times.iter().cloned().fold(f64::INFINITY, f64::min);
    let med = median(&mut times.clone());

    // Sampling: 64 images × 60 steps from noise, read back.
    let net = trainer.model().clone();
    let params = LangevinParams { steps: 60, ..LangevinParams::from(&config) };
    let run_sampling = || {
        let start = ReplayBuffer::noise(64, shape, &trainer.device());
        let (x, _) = block_on(langevin(&net, start, &params, &Default::default()));
        block_on(read_values(x)).map(|_| ())
    };
    run_sampling()?;
    let t = Instant::now();
    run_sampling()?;
    let sample_seconds = t.elapsed().as_secs_f64();

    let report = json!({
        "backend": info.backend,
        "adapter": info.adapter,
        "batch": config.batch_size,
        "langevin_steps": config.langevin_steps,
        "cd_iteration_seconds": { "median": med, "min": min, "all": times },
        "langevin_image_steps_per_second": (config.batch_size * config.langevin_steps) as f64 / med,
        "sample_64x60_seconds": sample_seconds,
        "peak_rss_bytes": peak_rss(),
        "threads": std::thread::available_parallelism().map(|n| n.get()).ok(),
    });
    println!("{report}");
    Ok(())
}
