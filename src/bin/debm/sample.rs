//! `debm sample`: a PNG sheet of samples (and an `.npz` of them for the quality tools) and an
//! animated GIF of their Langevin chains, from noise or continuing the persistent chains.

use anyhow::{Context, Result, bail};
use dermaebm::limits::{MAX_IMAGES_PER_CALL, check_count};
use std::path::PathBuf;

use dermaebm::data::dataset::tensor_values_to_images;
use dermaebm::export;
use dermaebm::inference::{argmax_rows, class_probabilities, generate};
use dermaebm::persistent::{self, ChainSnapshot};
use dermaebm::platform::block_on;
use dermaebm::sampler::{ClassTerm, Composition, Corrector, Dynamics, LangevinParams};
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::common::{self, DEFAULT_WEIGHTS};

/// Samples drawn at a time, and at most in all, to sort into the probe's classes (the rarest
/// DermaMNIST classes are about 1 % of the data).
const BY_CLASS_BATCH: usize = 128;
const BY_CLASS_DRAWS: usize = 2048;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, default_value = DEFAULT_WEIGHTS)]
    weights: PathBuf,
    /// Number of samples.
    #[arg(long, default_value_t = 64)]
    count: usize,
    /// Langevin steps (default: 256 from noise, 40 continuing persistent chains; 0 with
    /// --persistent shows the chains as stored). A recovery model: steps per noise level
    /// (default: as trained). A denoising model: levels of its walk (default: its configuration's).
    #[arg(long)]
    steps: Option<usize>,
    /// Langevin step size (default: the one the weights were trained with).
    #[arg(long)]
    step_size: Option<f64>,
    /// Standard deviation of each step's Gaussian noise (default: the training one; 0: none).
    #[arg(long)]
    noise_std: Option<f64>,
    /// A recovery model's final denoising step, x + D·∇ₓf(a₁x, 0) (default: the site's,
    /// `sampler::FINAL_DRIFT`; 0: none).
    #[arg(long)]
    final_drift: Option<f32>,
    /// A class-conditional denoising model's guidance w with --class: the walk follows
    /// E_any + w·(E_k − E_any) (1: the class's own energy).
    #[arg(long, requires = "class")]
    guidance: Option<f64>,
    /// A class-conditional denoising model's composed energy, `class:weight,…`: the walk follows
    /// E_any + Σ w_k·(E_k − E_any) (e.g. `1:1,4:1`: classes 1 and 4 together).
    #[arg(long, conflicts_with_all = ["class", "by_class"])]
    compose: Option<String>,
    /// A denoising model: Metropolis-adjusted Langevin steps after each level of the walk, on
    /// the (composed) energy of the level reached.
    #[arg(long, default_value_t = 0)]
    mala_steps: usize,
    /// Their step size, as a fraction of σ² of the level.
    #[arg(long, default_value_t = dermaebm::sampler::DEFAULT_MALA_STEP)]
    mala_step: f64,
    /// Seed of the draw (printed); omitted, every run draws afresh.
    #[arg(long)]
    seed: Option<u64>,
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
    /// One row per class with `count` samples each: drawn under each class (class-conditional
    /// weights), or drawn at random and sorted by the class the weights' linear probe gives
    /// them (an unconditional model with a probe, `debm probe`).
    #[arg(long)]
    by_class: bool,
    /// Also write the chains as a PNG: one row per sample, one column per recorded state (a
    /// recovery model: noise, then every level down to 0).
    #[arg(long)]
    walk: Option<PathBuf>,
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
    let seed = args.seed.unwrap_or_else(|| {
        // A fresh draw: the clock's nanoseconds are random enough for pictures.
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64) & u64::from(u32::MAX)
    });
    eprintln!("seed {seed} (--seed {seed} draws these again)");
    device.seed(seed);
    let mut rng = StdRng::seed_from_u64(seed);
    // Overrides are checked by the same rules as a training configuration's.
    let sampler_config = dermaebm::EbmConfig {
        step_size: args.step_size.unwrap_or(config.step_size),
        noise_std: args.noise_std.unwrap_or(config.noise_std),
        ..config.clone()
    };
    if args.step_size.is_some() || args.noise_std.is_some() {
        sampler_config.validate().context("--step-size / --noise-std")?;
    }
    if (config.is_recovery() || config.is_denoising()) && (args.persistent || args.step_size.is_some() || args.noise_std.is_some()) {
        bail!("{} samples from noise through its noise levels (no --persistent, --step-size or --noise-std)", args.weights.display());
    }
    let persistent_params =
        LangevinParams { steps: args.steps.unwrap_or(persistent::DEFAULT_STEPS), ..LangevinParams::from(&sampler_config) };
    let mut dynamics = Dynamics::sampling(&sampler_config, args.steps);
    match (&mut dynamics, args.final_drift) {
        (Dynamics::Recovery(chains), Some(drift)) if drift.is_finite() && drift >= 0.0 => chains.final_drift = drift,
        (_, None) => {}
        _ => bail!("--final-drift takes a finite number ≥ 0, for a recovery-likelihood model"),
    }
    // A composed energy walks every chain under it; the plain class argument then names none.
    let mut class = args.class;
    let composition = match (&args.compose, args.class, args.guidance) {
        (Some(spec), _, _) => parse_composition(spec)?,
        (None, Some(k), Some(w)) => {
            class = None;
            Composition::class(k, w)
        }
        _ => Composition::default(),
    };
    let corrector = Corrector { steps: args.mala_steps, step_factor: args.mala_step };
    let dynamics = dynamics.composed(composition, corrector, config.classes).map_err(anyhow::Error::msg)?;
    let every = (dynamics.total_steps() / 16).max(1);
    let record = (args.gif.is_some() || args.walk.is_some()).then_some(every);
    let draw = |n: usize, class: Option<usize>, record: Option<usize>, rng: &mut StdRng| match &snapshot {
        Some(chains) => {
            block_on(persistent::continue_chains(&model, chains, n, &persistent_params, record, class, args.burn_in, rng, &device))
        }
        None => block_on(generate(&model, n, config.image_shape(), &dynamics, record, class, &device)),
    };
    let (images, columns, out) = if args.by_class && config.classes == 0 {
        // Sorted by the probe's class: draw until every class has its row, or enough were drawn.
        let probe = file.probe().with_context(|| args.weights.display().to_string())?.with_context(|| {
            format!("{} is neither class-conditional nor carries a linear probe (debm probe); --by-class needs one", args.weights.display())
        })?;
        let mut rows: Vec<Vec<Vec<u8>>> = vec![Vec::new(); probe.classes];
        let mut drawn = 0;
        while drawn < BY_CLASS_DRAWS && rows.iter().any(|r| r.len() < args.count) {
            let out = draw(BY_CLASS_BATCH, None, None, &mut rng)?;
            let [c4, h4, w4] = config.image_shape();
            let tensor =
                dermaebm::Tensor::<4>::from_data(burn::tensor::TensorData::new(out.samples.clone(), [BY_CLASS_BATCH, c4, h4, w4]), &device);
            let classes = argmax_rows(&block_on(class_probabilities(&model, Some(&probe), tensor, BY_CLASS_BATCH))?);
            for (image, k) in tensor_values_to_images(&out.samples, c, h, w).into_iter().zip(classes) {
                if rows[k].len() < args.count {
                    rows[k].push(image);
                }
            }
            drawn += BY_CLASS_BATCH;
        }
        let blank = vec![255u8; h * w * c];
        eprintln!(
            "rows (by the probe's class, of {drawn} samples drawn): {}",
            rows.iter().enumerate().map(|(k, r)| format!("{} {}", dermaebm::data::class_name(k), r.len())).collect::<Vec<_>>().join(", ")
        );
        let images = rows.into_iter().flat_map(|mut r| {
            r.resize(args.count, blank.clone());
            r
        });
        (images.collect(), args.count, None)
    } else if args.by_class {
        let mut images = Vec::new();
        for k in 0..config.classes {
            images.extend(tensor_values_to_images(&draw(args.count, Some(k), None, &mut rng)?.samples, c, h, w));
        }
        eprintln!("rows: {}", (0..config.classes).map(dermaebm::data::class_name).collect::<Vec<_>>().join(", "));
        (images, args.count, None)
    } else {
        let out = draw(args.count, class, record, &mut rng)?;
        (tensor_values_to_images(&out.samples, c, h, w), (args.count as f64).sqrt().ceil() as usize, Some(out))
    };
    let sheet = export::grid(&images, h, c, columns, 3);
    common::write_atomic(&args.png, &export::png(&sheet).map_err(anyhow::Error::msg)?)?;
    eprintln!("wrote {}", args.png.display());
    if let Some(path) = &args.npz {
        common::write_atomic(path, &export::npz_images(&images, h, c).map_err(anyhow::Error::msg)?)?;
        eprintln!("wrote {} ({} images)", path.display(), images.len());
    }
    if let (Some(walk_path), Some(out)) = (&args.walk, &out) {
        // One row per chain, one column per recorded state.
        let chains = args.count;
        let frames: Vec<Vec<Vec<u8>>> = out.chain.iter().map(|f| tensor_values_to_images(&f.values, c, h, w)).collect();
        let tiles: Vec<Vec<u8>> = (0..chains).flat_map(|i| frames.iter().map(move |f| f[i].clone())).collect();
        let sheet = export::grid(&tiles, h, c, frames.len(), 3);
        common::write_atomic(walk_path, &export::png(&sheet).map_err(anyhow::Error::msg)?)?;
        let levels: Vec<String> = out.chain.iter().map(|f| f.level.map_or(format!("step {}", f.step), |l| format!("level {l}"))).collect();
        eprintln!("wrote {} (columns: {})", walk_path.display(), levels.join(", "));
    }
    if let (Some(gif_path), Some(out)) = (&args.gif, out) {
        let frames: Vec<_> =
            out.chain.iter().map(|f| export::grid(&tensor_values_to_images(&f.values, c, h, w), h, c, columns, 3)).collect();
        common::write_atomic(gif_path, &export::gif(&frames, 15).map_err(anyhow::Error::msg)?)?;
        eprintln!("wrote {}", gif_path.display());
    }
    Ok(())
}

/// `class:weight,…` → a composition (its classes and weights checked against the model later).
fn parse_composition(spec: &str) -> Result<Composition> {
    let terms = spec
        .split(',')
        .map(|term| {
            let (class, weight) = term.split_once(':').unwrap_or((term, "1"));
            Ok(ClassTerm {
                class: class.trim().parse().with_context(|| format!("--compose: `{class}` is not a class number"))?,
                weight: weight.trim().parse().with_context(|| format!("--compose: `{weight}` is not a weight"))?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Composition { terms })
}
