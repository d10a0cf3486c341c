//! `debm sample`: a PNG sheet of samples (and an `.npz` of them for the quality tools) and an
//! animated GIF of their Langevin chains, from noise or continuing the persistent chains.

use anyhow::{Context, Result, bail};
use dermaebm::limits::{MAX_IMAGES_PER_CALL, check_count};
use std::path::PathBuf;

use dermaebm::data::dataset::tensor_values_to_images;
use dermaebm::export;
use dermaebm::inference::generate;
use dermaebm::persistent::{self, ChainSnapshot};
use dermaebm::platform::block_on;
use dermaebm::sampler::{Dynamics, LangevinParams};
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::common::{self, DEFAULT_WEIGHTS};

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, default_value = DEFAULT_WEIGHTS)]
    weights: PathBuf,
    /// Number of samples.
    #[arg(long, default_value_t = 64)]
    count: usize,
    /// Langevin steps (default: 256 from noise, 40 continuing persistent chains; 0 with
    /// --persistent shows the chains as stored). A recovery model: steps per noise level
    /// (default: as trained).
    #[arg(long)]
    steps: Option<usize>,
    /// Langevin step size (default: the one the weights were trained with).
    #[arg(long)]
    step_size: Option<f64>,
    /// Standard deviation of each step's Gaussian noise (default: the training one; 0: none).
    #[arg(long)]
    noise_std: Option<f64>,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Sample sheet (PNG).
    #[arg(long, default_value = "samples.png")]
    png: PathBuf,
    /// Chain animation (GIF), one frame every `steps/16` steps.
    #[arg(long)]
    gif: Option<PathBuf>,
    #[arg(long, default_value = "auto")]
    backend: String,
    /// Sample this class (class-conditional weights only).
    #[arg(long, conflicts_with = "by_class")]
    class: Option<usize>,
    /// One row per class with `count` samples each (class-conditional weights only).
    #[arg(long)]
    by_class: bool,
    /// Continue the persistent chains stored in the weights file (its replay buffer) instead
    /// of starting from uniform noise; above the number stored, starts repeat.
    #[arg(long)]
    persistent: bool,
    /// With --persistent: continue chains that have run at least this many Langevin steps since
    /// noise, when the file has any (0: any chain).
    #[arg(long, default_value_t = persistent::BURN_IN_STEPS)]
    burn_in: u32,
    /// Also write the samples as an .npz (`images`, uint8 N×H×W×C) for ../shared/bench/quality.py.
    #[arg(long)]
    npz: Option<PathBuf>,
}

pub fn run(args: Args) -> Result<()> {
    check_count("--count", args.count, MAX_IMAGES_PER_CALL).map_err(anyhow::Error::msg)?;
    if args.steps == Some(0) && !args.persistent {
        bail!("--steps must be at least 1 when sampling from noise");
    }
    let (device, _) = common::device(&args.backend)?;
    let (file, model) = common::load_model(&args.weights, &device)?;
    let config = file.header.config.clone();
    let [c, h, w] = config.image_shape();
    dermaebm::inference::check_class_of(config.classes, args.class).with_context(|| args.weights.display().to_string())?;
    let snapshot = if args.persistent {
        let chains = ChainSnapshot::from_file(&file).with_context(|| args.weights.display().to_string())?;
        Some(chains.with_context(|| {
            format!("{} holds no persistent chains (training checkpoints and dermamnist.state do)", args.weights.display())
        })?)
    } else {
        None
    };
    device.seed(args.seed);
    let mut rng = StdRng::seed_from_u64(args.seed);
    // Overrides are checked by the same rules as a training configuration's.
    let sampler_config = dermaebm::EbmConfig {
        step_size: args.step_size.unwrap_or(config.step_size),
        noise_std: args.noise_std.unwrap_or(config.noise_std),
        ..config.clone()
    };
    if args.step_size.is_some() || args.noise_std.is_some() {
        sampler_config.validate().context("--step-size / --noise-std")?;
    }
    if config.is_recovery() && (args.persistent || args.step_size.is_some() || args.noise_std.is_some()) {
        bail!(
            "{} is a recovery-likelihood model: it samples from noise through its noise levels (no --persistent, --step-size or --noise-std)",
            args.weights.display()
        );
    }
    let persistent_params =
        LangevinParams { steps: args.steps.unwrap_or(persistent::DEFAULT_STEPS), ..LangevinParams::from(&sampler_config) };
    let dynamics = Dynamics::sampling(&sampler_config, args.steps);
    let every = (dynamics.total_steps() / 16).max(1);
    let record = args.gif.as_ref().map(|_| every);
    let draw = |n: usize, class: Option<usize>, record: Option<usize>, rng: &mut StdRng| match &snapshot {
        Some(chains) => {
            block_on(persistent::continue_chains(&model, chains, n, &persistent_params, record, class, args.burn_in, rng, &device))
        }
        None => block_on(generate(&model, n, config.image_shape(), &dynamics, record, class, &device)),
    };
    let (images, columns, out) = if args.by_class {
        if config.classes == 0 {
            bail!("{} is not class-conditional; --by-class needs class-conditional weights", args.weights.display());
        }
        let mut images = Vec::new();
        for k in 0..config.classes {
            images.extend(tensor_values_to_images(&draw(args.count, Some(k), None, &mut rng)?.samples, c, h, w));
        }
        eprintln!("rows: {}", (0..config.classes).map(dermaebm::data::class_name).collect::<Vec<_>>().join(", "));
        (images, args.count, None)
    } else {
        let out = draw(args.count, args.class, record, &mut rng)?;
        (tensor_values_to_images(&out.samples, c, h, w), (args.count as f64).sqrt().ceil() as usize, Some(out))
    };
    let sheet = export::grid(&images, h, c, columns, 3);
    common::write_atomic(&args.png, &export::png(&sheet).map_err(anyhow::Error::msg)?)?;
    eprintln!("wrote {}", args.png.display());
    if let Some(path) = &args.npz {
        common::write_atomic(path, &export::npz_images(&images, h, c).map_err(anyhow::Error::msg)?)?;
        eprintln!("wrote {} ({} images)", path.display(), images.len());
    }
    if let (Some(gif_path), Some(out)) = (&args.gif, out) {
        let frames: Vec<_> =
            out.chain.iter().map(|f| export::grid(&tensor_values_to_images(&f.values, c, h, w), h, c, columns, 3)).collect();
        common::write_atomic(gif_path, &export::gif(&frames, 15).map_err(anyhow::Error::msg)?)?;
        eprintln!("wrote {}", gif_path.display());
    }
    Ok(())
}
