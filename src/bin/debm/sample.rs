//! `debm sample`: a PNG sheet of samples and an animated GIF of their Langevin chains.

use std::path::PathBuf;

use dermaebm::data::dataset::tensor_values_to_images;
use dermaebm::export;
use dermaebm::inference::generate;
use dermaebm::platform::block_on;
use dermaebm::sampler::LangevinParams;

use crate::common::{self, DEFAULT_WEIGHTS};

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, default_value = DEFAULT_WEIGHTS)]
    weights: PathBuf,
    /// Number of samples.
    #[arg(long, default_value_t = 64)]
    count: usize,
    /// Langevin steps from uniform noise.
    #[arg(long, default_value_t = 256)]
    steps: usize,
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
    /// Instead of sampling, draw the newest `count` replay-buffer images of a checkpoint (the
    /// persistent chains training produced) into the PNG.
    #[arg(long)]
    from_buffer: bool,
}

pub fn run(args: Args) -> Result<(), String> {
    if args.count == 0 || args.steps == 0 {
        return Err("--count and --steps must be at least 1".into());
    }
    let (device, _) = common::device(&args.backend)?;
    let (file, model) = common::load_model(&args.weights, &device)?;
    let config = file.header.config.clone();
    let [c, h, w] = config.image_shape();
    if args.from_buffer {
        let bytes = file.section("buffer").ok_or_else(|| format!("{} holds no replay buffer (only checkpoints do)", args.weights.display()))?;
        let per = c * h * w;
        if bytes.len() < 8 || (bytes.len() - 8) % per != 0 {
            return Err("the buffer section does not hold whole images".into());
        }
        let next = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        let n = (bytes.len() - 8) / per;
        let values: Vec<f32> = (0..args.count.min(n))
            .flat_map(|k| {
                let i = (next + n - 1 - k) % n;
                bytes[8 + i * per..8 + (i + 1) * per].iter().map(|&b| b as f32 / 127.5 - 1.0)
            })
            .collect();
        let columns = (args.count.min(n) as f64).sqrt().ceil() as usize;
        let sheet = export::grid(&tensor_values_to_images(&values, c, h, w), h, c, columns, 3);
        common::write_atomic(&args.png, &export::png(&sheet)?)?;
        eprintln!("wrote {}", args.png.display());
        return Ok(());
    }
    if let Some(k) = args.class
        && k >= config.classes
    {
        return Err(if config.classes == 0 {
            format!("{} is not class-conditional; sample without --class", args.weights.display())
        } else {
            format!("class {k} does not exist: the weights have classes 0–{}", config.classes - 1)
        });
    }
    device.seed(args.seed);
    let params = LangevinParams { steps: args.steps, ..LangevinParams::from(&config) };
    if args.by_class {
        if config.classes == 0 {
            return Err(format!("{} is not class-conditional; --by-class needs class-conditional weights", args.weights.display()));
        }
        let mut images = Vec::new();
        for k in 0..config.classes {
            let out = block_on(generate(&model, args.count, config.image_shape(), &params, None, Some(k), &device)).map_err(|e| e.to_string())?;
            images.extend(tensor_values_to_images(&out.samples, c, h, w));
        }
        let sheet = export::grid(&images, h, c, args.count, 3);
        common::write_atomic(&args.png, &export::png(&sheet)?)?;
        eprintln!("wrote {} (rows: {})", args.png.display(), (0..config.classes).map(dermaebm::data::class_name).collect::<Vec<_>>().join(", "));
        return Ok(());
    }
    let every = (args.steps / 16).max(1);
    let out = block_on(generate(&model, args.count, config.image_shape(), &params, args.gif.as_ref().map(|_| every), args.class, &device))
        .map_err(|e| e.to_string())?;
    let columns = (args.count as f64).sqrt().ceil() as usize;
    let sheet = export::grid(&tensor_values_to_images(&out.samples, c, h, w), h, c, columns, 3);
    common::write_atomic(&args.png, &export::png(&sheet)?)?;
    eprintln!("wrote {}", args.png.display());
    if let Some(gif_path) = args.gif {
        let frames: Vec<_> = out
            .chain
            .iter()
            .map(|(_, v)| export::grid(&tensor_values_to_images(v, c, h, w), h, c, columns, 3))
            .collect();
        common::write_atomic(&gif_path, &export::gif(&frames, 15)?)?;
        eprintln!("wrote {}", gif_path.display());
    }
    Ok(())
}
