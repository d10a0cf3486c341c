//! `debm score`: energies, one per line, in row order (lower = more likely).

use anyhow::{Context, Result, bail};
use dermaebm::limits::{MAX_IMAGES_PER_CALL, check_count};
use std::path::PathBuf;

use dermaebm::buffer::ReplayBuffer;
use dermaebm::data::Split;
use dermaebm::inference::energies;
use dermaebm::platform::block_on;

use crate::common::{self, DEFAULT_WEIGHTS};

#[derive(clap::Args)]
pub struct Args {
    /// A .npz/.npy shard whose rows to score.
    file: Option<PathBuf>,
    /// Split of FILE to score.
    #[arg(long, default_value = "test")]
    split: String,
    /// Score this many uniform-noise images instead of a file.
    #[arg(long, conflicts_with = "file")]
    noise: Option<usize>,
    /// Seed for the noise images.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[arg(long, default_value = DEFAULT_WEIGHTS)]
    weights: PathBuf,
    #[arg(long, default_value = "auto")]
    backend: String,
}

pub fn run(args: Args) -> Result<()> {
    let (device, _) = common::device(&args.backend)?;
    let (file, model) = common::load_model(&args.weights, &device)?;
    let config = file.header.config;
    let images = match (&args.file, args.noise) {
        (_, Some(n)) => {
            check_count("--noise", n, MAX_IMAGES_PER_CALL).map_err(anyhow::Error::msg)?;
            device.seed(args.seed);
            ReplayBuffer::noise(n, config.image_shape(), &device)
        }
        (Some(path), None) => {
            let dataset = common::load_dataset(std::slice::from_ref(path))?;
            let split = Split::parse(&args.split).with_context(|| format!("unknown split `{}`: use train, val or test", args.split))?;
            let rows = dataset.rows(split);
            if rows == 0 {
                let present: Vec<&str> = dataset.splits().map(|s| s.name()).collect();
                bail!("{} has no `{}` split (it has: {})", path.display(), split.name(), present.join(", "));
            }
            if (dataset.channels, dataset.height) != (config.channels, config.image_size) {
                bail!(
                    "the weights expect {}-channel {}×{} images; {} has {}-channel {}×{}",
                    config.channels,
                    config.image_size,
                    config.image_size,
                    path.display(),
                    dataset.channels,
                    dataset.height,
                    dataset.width
                );
            }
            dataset.batch(split, &(0..rows).collect::<Vec<_>>(), &device)
        }
        (None, None) => bail!("give a FILE to score, or --noise N"),
    };
    let energies = block_on(energies(&model, images, 512))?;
    let mut out = String::with_capacity(energies.len() * 12);
    for e in energies {
        out.push_str(&format!("{e}\n"));
    }
    print!("{out}");
    Ok(())
}
