//! `debm probe`: fits a linear probe (`dermaebm::model::ClassProbe`) on the net's features of the
//! labelled training images and stores it in a weights file, so that `debm eval`, the site and
//! `<ebm-sampler>`'s page classify with it; prints the head's and the probe's accuracy on each
//! labelled split as JSON. The energy and sampling are untouched.

use anyhow::{Context, Result, bail};
use std::path::PathBuf;

use dermaebm::data::Split;
use dermaebm::inference::{argmax_rows, class_probabilities, fit_probe};
use dermaebm::metrics::{Classification, CrossEntropy};
use dermaebm::model::probe::{DEFAULT_L2, fingerprint};
use dermaebm::platform::block_on;
use dermaebm::weights::section;
use serde_json::json;

use crate::common::{self, DEFAULT_WEIGHTS};

#[derive(clap::Args)]
pub struct Args {
    /// Shards holding the labelled images.
    #[arg(long, required = true, num_args = 1..)]
    data: Vec<PathBuf>,
    #[arg(long, default_value = DEFAULT_WEIGHTS)]
    weights: PathBuf,
    /// The split the probe is fitted on; the others are only reported.
    #[arg(long, default_value = "train")]
    split: String,
    /// L2 penalty on the probe's (standardised) weights.
    #[arg(long, default_value_t = DEFAULT_L2)]
    l2: f32,
    /// Where to write the weights with the probe (the input file, if not given).
    #[arg(long)]
    out: Option<PathBuf>,
    #[arg(long, default_value = "auto")]
    backend: String,
}

pub fn run(args: Args) -> Result<()> {
    let (device, _) = common::device(&args.backend)?;
    let (file, model) = common::load_model(&args.weights, &device)?;
    let dataset = common::load_dataset(&args.data)?;
    let split = Split::parse(&args.split).with_context(|| format!("unknown split `{}`", args.split))?;
    if !dataset.is_labelled(split) {
        bail!("the data's `{}` split has no labels to fit a probe to", split.name());
    }
    let net = file.section(section::MODEL).context("the weights file has no `model` section")?;
    let probe = block_on(fit_probe(&model, &dataset, split, args.l2, fingerprint(net), &device))?;
    let mut report = serde_json::Map::new();
    for s in dataset.splits().filter(|&s| dataset.is_labelled(s)).collect::<Vec<_>>() {
        let labels = dataset.split(s).and_then(|a| a.labels.clone()).expect("a labelled split");
        let images = dataset.batch(s, &(0..labels.len()).collect::<Vec<_>>(), &device);
        let mut row = serde_json::Map::new();
        for (name, p) in [("head", None), ("probe", Some(&probe))] {
            if p.is_none() && model.head_classes() == 0 {
                continue;
            }
            let probabilities = block_on(class_probabilities(&model, p, images.clone(), 512))?;
            let classification = Classification::of(&labels, &argmax_rows(&probabilities), probe.classes);
            row.insert(name.into(), json!({ "accuracy": classification.accuracy, "majority_baseline": classification.majority_baseline, "cross_entropy": CrossEntropy::of(&labels, &probabilities) }));
        }
        report.insert(s.name().into(), row.into());
    }
    let out = args.out.unwrap_or(args.weights);
    common::write_atomic(&out, &file.with_probe(&probe))?;
    println!(
        "{}",
        serde_json::to_string_pretty(
            &json!({ "out": out.display().to_string(), "fitted_on": split.name(), "l2": args.l2, "splits": report })
        )?
    );
    Ok(())
}
