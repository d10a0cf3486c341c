//! `debm eval`: the weights' quality figures as JSON — energy AUROC of real images against
//! uniform noise, and per-channel mean/std of fresh samples against the real images'.

use anyhow::{Context, Result, bail};
use std::path::PathBuf;

use dermaebm::buffer::ReplayBuffer;
use dermaebm::data::Split;
use dermaebm::inference::{Classifier, argmax_rows, energies, generate, read_values};
use dermaebm::metrics::{Classification, CrossEntropy, auroc_lower_is_positive, channel_mean_std};
use dermaebm::persistent;
use dermaebm::platform::{Instant, block_on};
use dermaebm::sampler::{Dynamics, LangevinParams};
use dermaebm::session::{Session, SessionError};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::json;

use crate::common::{self, DEFAULT_WEIGHTS};

#[derive(clap::Args)]
pub struct Args {
    /// Shards holding the real images.
    #[arg(long, required = true, num_args = 1..)]
    data: Vec<PathBuf>,
    #[arg(long, default_value = "val")]
    split: String,
    #[arg(long, default_value = DEFAULT_WEIGHTS)]
    weights: PathBuf,
    /// Samples generated from fresh noise.
    #[arg(long, default_value_t = 1000)]
    samples: usize,
    /// Langevin steps per sample from noise (default: the site's, 256 for a contrastive model;
    /// per level as trained for a recovery one).
    #[arg(long)]
    steps: Option<usize>,
    /// Uniform-noise images scored against the real ones.
    #[arg(long, default_value_t = 1000)]
    noise: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[arg(long, default_value = "auto")]
    backend: String,
}

pub fn run(args: Args) -> Result<()> {
    let (device, _) = common::device(&args.backend)?;
    // The weights as the site holds them: the same model, chains and classifier rule.
    let mut session = Session::new(device.clone());
    session.load_weights(common::read_weights(&args.weights)?).with_context(|| args.weights.display().to_string())?;
    let model = session.model()?;
    let config = session.config().clone();
    let dataset = common::load_dataset(&args.data)?;
    let split = Split::parse(&args.split).with_context(|| format!("unknown split `{}`", args.split))?;
    let rows = dataset.rows(split);
    if rows == 0 {
        bail!("the data has no `{}` split", split.name());
    }
    let real = dataset.batch(split, &(0..rows).collect::<Vec<_>>(), &device);
    let real_values = block_on(read_values(real.clone()))?;
    let e_real = block_on(energies(&model, real.clone(), 512))?;
    device.seed(args.seed);
    let noise = ReplayBuffer::noise(args.noise.max(1), config.image_shape(), &device);
    let e_noise = block_on(energies(&model, noise, 512))?;
    let auroc = auroc_lower_is_positive(&e_real, &e_noise).context("non-finite energies")?;

    // A class-conditional model is also a classifier (its head, or the linear probe stored
    // with it, `debm probe`): its accuracy against always answering the most common class.
    let classifier = session.classifier();
    let (classification, class_cross_entropy) = match (dataset.split(split).and_then(|s| s.labels.clone()), &classifier) {
        (Some(labels), Some(classifier)) => {
            let probabilities = block_on(classifier.probabilities(&model, real.clone(), 512))?;
            let predicted = argmax_rows(&probabilities);
            (Some(Classification::of(&labels, &predicted, classifier.classes())), Some(CrossEntropy::of(&labels, &probabilities)))
        }
        _ => (None, None),
    };
    let started = Instant::now();
    let dynamics = Dynamics::sampling(&config, args.steps);
    let mut samples = Vec::new();
    let mut left = args.samples.max(1);
    while left > 0 {
        let n = left.min(250);
        samples.extend(block_on(generate(&model, n, config.image_shape(), &dynamics, None, None, &device))?.samples);
        left -= n;
    }
    let sampling_seconds = started.elapsed().as_secs_f64();
    // The same statistics for the persistent chains continued (what the site shows first).
    let persistent = match session.chains() {
        Ok(chains) => {
            let chains = block_on(chains.read())?;
            let params = LangevinParams { steps: persistent::DEFAULT_STEPS, ..LangevinParams::from(&config) };
            let mut rng = StdRng::seed_from_u64(args.seed);
            let out = block_on(persistent::continue_chains(
                &model,
                &chains,
                args.samples.max(1),
                &params,
                None,
                None,
                persistent::BURN_IN_STEPS,
                &mut rng,
                &device,
            ))?;
            Some(out.samples)
        }
        Err(SessionError::NoFileChains) => None,
        Err(other) => return Err(other.into()),
    };
    let [c, h, w] = config.image_shape();
    // Statistics in pixel units of 0..1, as the data's README states them.
    let to_unit = |v: Vec<(f64, f64)>| v.into_iter().map(|(m, s)| ((m + 1.0) / 2.0, s / 2.0)).collect::<Vec<_>>();
    let real_stats = to_unit(channel_mean_std(&real_values, c, h * w));
    let gap =
        |stats: &[(f64, f64)]| real_stats.iter().zip(stats).flat_map(|(r, s)| [(r.0 - s.0).abs(), (r.1 - s.1).abs()]).fold(0.0, f64::max);
    let sample_stats = to_unit(channel_mean_std(&samples, c, h * w));
    let max_diff = gap(&sample_stats);
    let persistent_report = persistent.map(|values| {
        let stats = to_unit(channel_mean_std(&values, c, h * w));
        json!({ "steps": persistent::DEFAULT_STEPS, "channel_mean_std": stats, "max_abs_difference": gap(&stats) })
    });
    let report = json!({
        "weights": args.weights.display().to_string(),
        "iteration": session.iteration(),
        "split": split.name(),
        "real_rows": rows,
        "auroc_real_vs_noise": auroc,
        "mean_energy_real": e_real.iter().sum::<f32>() / e_real.len() as f32,
        "mean_energy_noise": e_noise.iter().sum::<f32>() / e_noise.len() as f32,
        "samples": args.samples,
        "steps": dynamics.total_steps(),
        "recipe": config.recipe,
        "real_channel_mean_std": real_stats,
        "sample_channel_mean_std": sample_stats,
        "max_abs_difference": max_diff,
        "sampling_seconds": sampling_seconds,
        "persistent": persistent_report,
        "classifier": classifier.map(|c| match c.kind() {
            Classifier::Probe => "linear probe on the net's features (debm probe)",
            Classifier::Head => "the class-conditional head",
        }),
        "classification": classification,
        "class_cross_entropy": class_cross_entropy,
        "fid": format!("not computed here: bash scripts/fid.sh {} (FID/KID vs val with ../shared/bench/quality.py; figures in weights/fid-history.csv)", args.weights.display()),
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
