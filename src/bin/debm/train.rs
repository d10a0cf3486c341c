//! `debm train`: CD training from shards, with checkpoints, a CSV log and resume.

use std::io::Write;
use std::path::PathBuf;

use dermaebm::checkpoint::{self, Contents};
use dermaebm::data::BatchSource;
use dermaebm::persistent;
use dermaebm::platform::{Instant, block_on};
use dermaebm::{EbmConfig, Trainer};
use indicatif::{ProgressBar, ProgressStyle};

use crate::common::{self, DEFAULT_WEIGHTS};

#[derive(clap::Args)]
pub struct Args {
    /// MedMNIST .npz/.npy shards (the train split is used, else the largest one).
    #[arg(long, required = true, num_args = 1..)]
    data: Vec<PathBuf>,
    /// Run configuration as JSON (defaults: the reference recipe). Ignored when resuming
    /// unless given explicitly.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Iterations to reach (counting those of a resumed checkpoint).
    #[arg(long, default_value_t = 500)]
    iterations: u64,
    /// Final weights file (the model and its newest persistent chains; skipped when it is the
    /// checkpoint itself).
    #[arg(long, default_value = DEFAULT_WEIGHTS)]
    out: PathBuf,
    /// Checkpoint file (default: the output with a .ckpt extension).
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    /// Write a checkpoint every this many iterations.
    #[arg(long, default_value_t = 50)]
    checkpoint_every: u64,
    /// Keep only the newest this many replay-buffer chains in checkpoints (a compact state to
    /// commit and ship as the persistent chains); default: all.
    #[arg(long)]
    checkpoint_chains: Option<usize>,
    /// Continue from the checkpoint if it exists.
    #[arg(long)]
    resume: bool,
    /// Per-iteration CSV log (default: the output with a .csv extension).
    #[arg(long)]
    log: Option<PathBuf>,
    /// auto, gpu or cpu.
    #[arg(long, default_value = "auto")]
    backend: String,
    /// Train a class-conditional energy E(x, y) on the data's labels (JEM).
    #[arg(long)]
    conditional: bool,
    /// Start a new run from these weights instead of a random net (an unconditional net
    /// becomes the starting point of a conditional one with --conditional).
    #[arg(long, conflicts_with = "resume")]
    init_from: Option<PathBuf>,
}

pub fn run(args: Args) -> Result<(), String> {
    let checkpoint_path = args.checkpoint.clone().unwrap_or_else(|| args.out.with_extension("ckpt"));
    let log_path = args.log.clone().unwrap_or_else(|| args.out.with_extension("csv"));
    let dataset = common::load_dataset(&args.data)?;
    let (device, info) = common::device(&args.backend)?;
    eprintln!(
        "backend: {} — {}{}",
        info.backend,
        info.adapter,
        if info.note.is_empty() { String::new() } else { format!(" ({})", info.note) }
    );

    let explicit_config = match &args.config {
        Some(path) => Some(
            EbmConfig::from_json(&std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?)
                .map_err(|e| format!("{}: {e}", path.display()))?,
        ),
        None => None,
    };
    // Where these weights come from, kept across resumes and warm starts.
    let mut provenance: Option<String> = None;
    let mut trainer = if args.resume && checkpoint_path.exists() {
        let file = common::read_weights(&checkpoint_path)?;
        provenance = Some(file.header.note.clone()).filter(|n| !n.is_empty());
        let config = explicit_config.unwrap_or_else(|| file.header.config.clone());
        let t = checkpoint::restore(&file, config, &device).map_err(|e| format!("{}: {e}", checkpoint_path.display()))?;
        eprintln!("resuming from {} at iteration {}", checkpoint_path.display(), t.iteration());
        t
    } else {
        let mut config = explicit_config.unwrap_or_default();
        config.channels = dataset.channels;
        config.image_size = dataset.height;
        if args.conditional {
            config.classes = dataset.label_classes().max(2);
            if !dataset.is_labelled(dataset.training_split()) {
                return Err("--conditional needs labelled data, and the training split has no labels".into());
            }
        }
        match &args.init_from {
            None => Trainer::new(config, &device).map_err(|e| e.to_string())?,
            Some(path) => {
                let (file, model) = common::load_model(path, &device)?;
                config.width = file.header.config.width;
                let model = if config.classes > 0 && model.classes() == 0 { model.into_conditional(config.classes) } else { model };
                if model.classes() != config.classes {
                    return Err(format!("{} has {} classes; the data needs {}", path.display(), model.classes(), config.classes));
                }
                eprintln!("starting from {} ({} iterations)", path.display(), file.header.iteration);
                provenance = Some(format!(
                    "{{this run}}; it started from {} ({} iterations: {})",
                    path.display(),
                    file.header.iteration,
                    file.header.note
                ));
                Trainer::with_model(config, &device, model).map_err(|e| e.to_string())?
            }
        }
    };
    let config = trainer.config().clone();
    if (config.channels, config.image_size) != (dataset.channels, dataset.height) {
        return Err(format!(
            "the data has {}-channel {}×{} images but the configuration expects {}-channel {}×{}",
            dataset.channels, dataset.height, dataset.width, config.channels, config.image_size, config.image_size
        ));
    }
    let split = dataset.training_split();
    let rows = dataset.rows(split);
    trainer.set_iters_per_epoch(rows.div_ceil(config.batch_size) as u64);
    let source = BatchSource::new(&dataset, split, &trainer.device(), BatchSource::DEFAULT_DEVICE_BYTES);

    if let Some(dir) = log_path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let fresh_log = !(args.resume && log_path.exists());
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(!fresh_log)
        .write(true)
        .truncate(fresh_log)
        .open(&log_path)
        .map_err(|e| format!("{}: {e}", log_path.display()))?;
    if fresh_log {
        writeln!(log, "iteration,epoch,loss,cd,reg,energy_real,energy_fake,lr,fresh,seconds,class_loss,class_accuracy")
            .map_err(|e| e.to_string())?;
    }

    let start = trainer.iteration();
    let bar = ProgressBar::new(args.iterations.saturating_sub(start));
    bar.set_style(ProgressStyle::with_template("{bar:30} {pos}/{len} it  {per_sec}  ETA {eta}  {msg}").map_err(|e| e.to_string())?);
    let started = Instant::now();
    let this_run = format!(
        "trained by `debm train` on {} ({} split, {rows} images){}, backend {}",
        // File names only: the note travels with the weights, the training machine's paths do not.
        dataset.files.iter().map(|f| f.rsplit(['/', '\\']).next().unwrap_or(f)).collect::<Vec<_>>().join(", "),
        split.name(),
        if config.is_conditional() { format!(", class-conditional over {} classes", config.classes) } else { String::new() },
        info.backend
    );
    let note = match provenance {
        Some(p) if p.contains("{this run}") => p.replace("{this run}", &this_run),
        Some(p) => p,
        None => this_run,
    };
    while trainer.iteration() < args.iterations {
        let device = trainer.device();
        let batch = config.batch_size;
        let (real, labels) = source.draw_labelled(&dataset, batch, trainer.rng(), &device);
        let labels = labels.filter(|_| config.is_conditional());
        let s = block_on(trainer.step_labelled(real, labels.as_deref())).map_err(|e| e.to_string())?;
        if s.rolled_back {
            bar.println(format!(
                "diverged (loss {}, E(real) {}, E(fake) {}): rolled back to iteration {}, learning rate now {:.2e}",
                s.loss,
                s.energy_real,
                s.energy_fake,
                s.iteration,
                trainer.current_lr()
            ));
            continue;
        }
        writeln!(
            log,
            "{},{},{},{},{},{},{},{},{},{:.4},{},{}",
            s.iteration,
            s.epoch,
            s.loss,
            s.cd,
            s.reg,
            s.energy_real,
            s.energy_fake,
            s.lr,
            s.fresh,
            s.seconds,
            s.class_loss,
            s.class_accuracy
        )
        .map_err(|e| e.to_string())?;
        bar.inc(1);
        bar.set_message(format!("loss {:+.4}  E(real) {:+.3}  E(fake) {:+.3}", s.loss, s.energy_real, s.energy_fake));
        if s.iteration % args.checkpoint_every == 0 || s.iteration == args.iterations {
            let bytes = block_on(checkpoint::save(
                &trainer,
                Contents { optimizer: true, buffer: true, newest_chains: args.checkpoint_chains },
                &note,
            ))
            .map_err(|e| e.to_string())?;
            common::write_atomic(&checkpoint_path, &bytes)?;
            log.flush().map_err(|e| e.to_string())?;
        }
    }
    bar.finish();
    if args.out != checkpoint_path {
        // The weights with their persistent chains (no optimiser state): what the site loads.
        let chains = args.checkpoint_chains.unwrap_or(persistent::SNAPSHOT_CHAINS);
        let contents = Contents { optimizer: false, buffer: true, newest_chains: Some(chains) };
        let weights = block_on(checkpoint::save(&trainer, contents, &note)).map_err(|e| e.to_string())?;
        common::write_atomic(&args.out, &weights)?;
    }
    eprintln!(
        "wrote {} ({} iterations; {:.1} s this run, {:.2} s/iteration)",
        args.out.display(),
        trainer.iteration(),
        started.elapsed().as_secs_f64(),
        started.elapsed().as_secs_f64() / (trainer.iteration() - start).max(1) as f64
    );
    Ok(())
}
