//! `debm bench`: seconds per training iteration of each recipe (the contrastive reference,
//! recovery likelihood on the same net and on the shipped one, denoising score matching on its
//! residual net), Langevin throughput, sampling time and peak memory, as one JSON object.

use anyhow::{Result, bail};
use dermaebm::inference::generate;
use dermaebm::platform::{Instant, block_on};
use dermaebm::sampler::Dynamics;
use dermaebm::{Device, EbmConfig, Trainer, synthetic};
use serde_json::{Value, json};

use crate::common;

#[derive(clap::Args)]
pub struct Args {
    /// Timed iterations per recipe (after the warm-up).
    #[arg(long, default_value_t = 5)]
    iterations: usize,
    #[arg(long, default_value_t = 1)]
    warmup: usize,
    /// Images per iteration (default: 128, the denoising recipe's own 64).
    #[arg(long)]
    batch: Option<usize>,
    /// Langevin steps of the contrastive recipe's iteration.
    #[arg(long, default_value_t = 60)]
    steps: usize,
    /// Which recipes: contrastive, recovery, denoising, both (contrastive and recovery) or all.
    #[arg(long, default_value = "both")]
    recipe: String,
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

/// Times `args.iterations` training iterations of `config` and 64 samples from noise.
fn measure(config: &EbmConfig, args: &Args, device: &Device) -> Result<Value> {
    config.validate()?;
    let mut trainer = Trainer::new(config.clone(), device)?;
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
    // Sampling: 64 images from noise as the site draws them (60 steps for the contrastive
    // recipe, as before; the whole level walk for recovery), read back.
    let net = trainer.sampling_model().clone();
    let dynamics = Dynamics::sampling(config, (config.recipe == dermaebm::config::Recipe::Contrastive).then_some(60));
    let run_sampling = || block_on(generate(&net, 64, shape, &dynamics, None, None, &trainer.device())).map(|g| g.samples.len());
    run_sampling()?;
    let t = Instant::now();
    run_sampling()?;
    let sample_seconds = t.elapsed().as_secs_f64();
    let chain_steps = match config.recipe {
        dermaebm::config::Recipe::Contrastive => config.langevin_steps,
        dermaebm::config::Recipe::Recovery => config.recovery.steps,
        dermaebm::config::Recipe::Denoising => 0,
    };
    Ok(json!({
        "recipe": config.recipe,
        "width": config.width,
        "batch": config.batch_size,
        "langevin_steps_per_iteration": chain_steps,
        "iteration_seconds": { "median": med, "min": min, "all": times },
        "langevin_image_steps_per_second": (config.batch_size * chain_steps) as f64 / med,
        "sample_64_seconds": sample_seconds,
        "sample_steps": dynamics.total_steps(),
    }))
}

pub fn run(args: Args) -> Result<()> {
    if args.iterations == 0 {
        bail!("--iterations must be at least 1");
    }
    let (which_contrastive, which_recovery, which_denoising) = match args.recipe.as_str() {
        "both" => (true, true, false),
        "all" => (true, true, true),
        "contrastive" => (true, false, false),
        "recovery" => (false, true, false),
        "denoising" => (false, false, true),
        other => bail!("unknown recipe `{other}`: use contrastive, recovery, denoising, both or all"),
    };
    let batch = args.batch.unwrap_or(128);
    let (device, info) = common::device(&args.backend)?;
    let mut runs = Vec::new();
    if which_contrastive {
        let config = EbmConfig { batch_size: batch, langevin_steps: args.steps, ..EbmConfig::default() };
        runs.push(measure(&config, &args, &device)?);
    }
    if which_recovery {
        let shipped = EbmConfig { batch_size: batch, ..EbmConfig::recovery() };
        // The same net as the contrastive reference, then the shipped recovery net.
        runs.push(measure(&EbmConfig { width: EbmConfig::default().width, ..shipped.clone() }, &args, &device)?);
        runs.push(measure(&shipped, &args, &device)?);
    }
    if which_denoising {
        let denoising = EbmConfig::denoising();
        runs.push(measure(&EbmConfig { batch_size: args.batch.unwrap_or(denoising.batch_size), ..denoising }, &args, &device)?);
    }
    let report = json!({
        "backend": info.backend,
        "adapter": info.adapter,
        "runs": runs,
        "peak_rss_bytes": peak_rss(),
        "threads": std::thread::available_parallelism().map(|n| n.get()).ok(),
    });
    println!("{report}");
    Ok(())
}
