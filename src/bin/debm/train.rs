//! `debm train`: training from shards by either recipe, with checkpoints, a CSV log and resume.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use dermaebm::checkpoint::Contents;
use dermaebm::data::Dataset;
use dermaebm::persistent;
use dermaebm::platform::{Instant, block_on};
use dermaebm::session::{Provenance, Session, Start};
use dermaebm::training_run::{CheckpointPolicy, RunEvent, RunLoop};
use dermaebm::{EbmConfig, IterStats};
use indicatif::{ProgressBar, ProgressStyle};

use crate::common::{self, DEFAULT_WEIGHTS};

#[derive(clap::Args)]
pub struct Args {
    /// MedMNIST .npz/.npy shards (the train split is used, else the largest one).
    #[arg(long, required = true, num_args = 1..)]
    data: Vec<PathBuf>,
    /// Run configuration as JSON (defaults: the preset of --recipe). Ignored when resuming
    /// unless given explicitly.
    #[arg(long)]
    config: Option<PathBuf>,
    /// The recipe of a new run without --config: `denoising` (the default: denoising score
    /// matching of an energy per noise level, sampled by a walk down the levels), `recovery`
    /// (diffusion recovery likelihood, samples from noise through noise levels) or `contrastive`
    /// (the UvA tutorial-8 reference).
    #[arg(long)]
    recipe: Option<String>,
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
    /// Also keep a copy of the checkpoint every this many iterations, beside it as
    /// `<checkpoint stem>-<iteration>.<extension>` (`run.ckpt` → `run-500.ckpt`): a long run can
    /// then go back to a state from before a slow drift, which the one rolling checkpoint has
    /// long overwritten. A multiple of --checkpoint-every.
    #[arg(long)]
    keep_every: Option<u64>,
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
    /// Start a new run from these weights instead of a random net, its replay buffer seeded
    /// with their persistent chains (an unconditional net becomes the starting point of a
    /// conditional one with --conditional). A --config with a larger `width` widens the net
    /// first, keeping its energy (Net2WiderNet).
    #[arg(long, conflicts_with = "resume")]
    init_from: Option<PathBuf>,
}

pub fn run(args: Args) -> Result<()> {
    let checkpoint_path = args.checkpoint.clone().unwrap_or_else(|| args.out.with_extension("ckpt"));
    if let Some(keep) = args.keep_every
        && (keep == 0 || args.checkpoint_every == 0 || !keep.is_multiple_of(args.checkpoint_every))
    {
        bail!("--keep-every {keep} must be a positive multiple of --checkpoint-every {}", args.checkpoint_every);
    }
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
        Some(path) => {
            let json = std::fs::read_to_string(path).with_context(|| path.display().to_string())?;
            Some(EbmConfig::from_json(&json).with_context(|| path.display().to_string())?)
        }
        None => None,
    };
    let files: Vec<String> = dataset.files.clone();
    // How a run starts (resumed, from another file's net, fresh) is the session's rule, the
    // browser's too; here only which start the arguments ask for.
    let mut session = Session::new(device);
    session.load_dataset(dataset);
    let resumed = if args.resume && checkpoint_path.exists() { Some(common::read_weights(&checkpoint_path)?) } else { None };
    let resuming = resumed.is_some();
    let started = match resumed {
        Some(file) => {
            let context = || checkpoint_path.display().to_string();
            session.load_weights(file).with_context(context)?;
            if let Some(config) = explicit_config {
                session.set_config(config).with_context(context)?;
            }
            session.start_training(Start::Continue).with_context(context)?
        }
        None => {
            let mut config = new_run_config(&args, explicit_config, session.dataset().expect("loaded above"))?;
            match &args.init_from {
                None => {
                    session.set_config(config).context("cannot start training")?;
                    session.start_training(Start::Fresh).context("cannot start training")?
                }
                Some(path) => {
                    let file = common::read_weights(path)?;
                    let name = path.display().to_string();
                    // A wider width in an explicit config widens the net; otherwise the file's holds.
                    if args.config.is_none() {
                        config.width = file.header.net.width;
                    }
                    let context = || format!("cannot start training from {name}");
                    session.set_config(config).with_context(context)?;
                    session.start_training(Start::From { file: &file, name: &name }).with_context(context)?
                }
            }
        }
    };
    let chains = started.chains();
    drop(started);
    let (run, provenance) = session.into_run().expect("the session holds the run it started, and nothing else does");
    if resuming {
        eprintln!("resuming from {} at iteration {}", checkpoint_path.display(), run.iteration());
    }
    if let Provenance::StartedFrom { name, iteration, .. } = &provenance {
        eprintln!("starting from {name} ({iteration} iterations{}; {chains} persistent chains)", provenance.widening());
    }
    let config = run.trainer().config().clone();
    let (split, rows) = (run.split(), run.rows());
    let this_run = format!(
        "trained by `debm train` on {} ({} split, {rows} images){}, backend {}",
        // File names only: the note travels with the weights, the training machine's paths do not.
        files.iter().map(|f| f.rsplit(['/', '\\']).next().unwrap_or(f)).collect::<Vec<_>>().join(", "),
        split.name(),
        match (config.is_recovery() || config.is_denoising(), config.is_conditional()) {
            (true, conditional) => {
                let recipe = if config.is_denoising() {
                    "denoising score matching over every noise level".to_string()
                } else {
                    format!("recovery likelihood over {} noise levels", config.recovery.levels)
                };
                let classes = if conditional { format!(", class-conditional over {} classes", config.classes) } else { String::new() };
                format!(", {recipe}{classes}")
            }
            (false, true) => format!(", class-conditional over {} classes", config.classes),
            (false, false) => String::new(),
        },
        info.backend
    );
    let note = provenance.note(&this_run);
    let contents = Contents { optimizer: true, buffer: true, newest_chains: args.checkpoint_chains };
    let start = run.iteration();
    // Copies are kept at multiples of --keep-every: count from the last multiple before the start.
    let keep_every = args.keep_every.unwrap_or(0);
    let kept_at = if keep_every > 0 { start - start % keep_every } else { 0 };
    let policy = CheckpointPolicy { every: args.checkpoint_every, keep_every, kept_at, on_stop: true, contents, note: note.clone() };
    let mut run = run.with_checkpoints(policy);

    let mut log = CsvLog::open(&log_path, args.resume)?;
    let bar = ProgressBar::new(args.iterations.saturating_sub(start));
    bar.set_style(ProgressStyle::with_template("{bar:30} {pos}/{len} it  {per_sec}  ETA {eta}  {msg}")?);
    let started = Instant::now();
    // The core's loop (the browser's too): the checkpoints it writes, the last one included, are
    // its policy's; here each event becomes a log line, a progress message or a file.
    let mut lp = RunLoop::new(Some(args.iterations), 0);
    while let Some(event) = block_on(lp.next(&mut run, false))? {
        match event {
            RunEvent::Stats { stats: s } if s.rolled_back => bar.println(format!(
                "diverged (loss {}, E(real) {}, E(fake) {}): rolled back to iteration {}, learning rate now {:.2e}",
                s.loss,
                s.energy_real,
                s.energy_fake,
                s.iteration,
                run.trainer().current_lr()
            )),
            RunEvent::Stats { stats: s } => {
                log.write(&s)?;
                bar.inc(1);
                bar.set_message(format!("loss {:+.4}  E(real) {:+.3}  E(fake) {:+.3}", s.loss, s.energy_real, s.energy_fake));
            }
            RunEvent::Checkpoint { iteration, bytes, keep, .. } => {
                common::write_atomic(&checkpoint_path, &bytes)?;
                if keep {
                    common::write_atomic(&kept_path(&checkpoint_path, iteration), &bytes)?;
                }
                log.flush()?;
            }
            RunEvent::Training { .. } | RunEvent::Samples(_) => {}
        }
    }
    bar.finish();
    if args.out != checkpoint_path {
        // The weights with their persistent chains (no optimiser state): what the site loads.
        let chains = args.checkpoint_chains.unwrap_or(persistent::SNAPSHOT_CHAINS);
        let contents = Contents { optimizer: false, buffer: true, newest_chains: Some(chains) };
        common::write_atomic(&args.out, &block_on(run.checkpoint(contents, &note))?)?;
    }
    let seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "wrote {} ({} iterations; {seconds:.1} s this run, {:.2} s/iteration)",
        args.out.display(),
        run.iteration(),
        seconds / (run.iteration() - start).max(1) as f64
    );
    Ok(())
}

/// The configuration of a new run: `explicit` (--config), else the preset of --recipe; the
/// data's image shape, and its classes with --conditional.
fn new_run_config(args: &Args, explicit: Option<EbmConfig>, dataset: &Dataset) -> Result<EbmConfig> {
    let mut config = match explicit {
        Some(config) => config,
        None => EbmConfig::preset(match &args.recipe {
            Some(name) => name.parse()?,
            None => dermaebm::config::Recipe::for_new_networks(),
        }),
    };
    config.channels = dataset.channels;
    config.image_size = dataset.height;
    if args.conditional {
        config.classes = dataset.label_classes().max(2);
    }
    Ok(config)
}

/// Where the copy of the checkpoint at `iteration` is kept: `state.debm` → `state-12000.debm`.
fn kept_path(checkpoint: &Path, iteration: u64) -> PathBuf {
    let stem = checkpoint.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let extension = checkpoint.extension().map(|e| format!(".{}", e.to_string_lossy())).unwrap_or_default();
    checkpoint.with_file_name(format!("{stem}-{iteration}{extension}"))
}

/// The per-iteration CSV log, appended to when a run resumes.
struct CsvLog {
    file: std::fs::File,
}

impl CsvLog {
    const HEADER: &str = "iteration,epoch,loss,cd,reg,energy_real,energy_fake,lr,fresh,seconds,class_loss,class_accuracy";

    fn open(path: &Path, resume: bool) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| dir.display().to_string())?;
        }
        let fresh = !(resume && path.exists());
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(!fresh)
            .write(true)
            .truncate(fresh)
            .open(path)
            .with_context(|| path.display().to_string())?;
        if fresh {
            writeln!(file, "{}", Self::HEADER)?;
        }
        Ok(Self { file })
    }

    fn write(&mut self, s: &IterStats) -> Result<()> {
        writeln!(
            self.file,
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
        )?;
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        Ok(self.file.flush()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_checkpoints_sit_beside_the_rolling_one_named_by_iteration() {
        assert_eq!(kept_path(Path::new("runs/state.debm"), 12000), PathBuf::from("runs/state-12000.debm"));
        assert_eq!(kept_path(Path::new("state"), 50), PathBuf::from("state-50"));
    }
}
