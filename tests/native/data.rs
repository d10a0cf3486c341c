//! Loading MedMNIST shards: the real DermaMNIST file, equivalent encodings, and one test per
//! kind of broken file, each asserting its own error.
// Native only: the browser runs these checks through tests/web.rs.
#![cfg(not(target_arch = "wasm32"))]

use crate::common::npy;
use std::io::Write;
use std::path::PathBuf;

use dermaebm::data::{DataError, Dataset, Limits, Split, load_shard};
use dermaebm::inference::read_values;
use dermaebm::platform::block_on;
use dermaebm::{Device, data::BatchSource};
use rand::SeedableRng;
use zip::write::SimpleFileOptions;

fn real_data() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/dermamnist-ham10000-28.npz")
}

fn bundled_sample() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/dermamnist-ham10000-28-sample.npz")
}

fn npz(entries: &[(&str, Vec<u8>)], deflate: bool) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let method = if deflate { zip::CompressionMethod::Deflated } else { zip::CompressionMethod::Stored };
    for (name, data) in entries {
        zip.start_file(format!("{name}.npy"), SimpleFileOptions::default().compression_method(method)).unwrap();
        zip.write_all(data).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

/// `n` deterministic RGB 28×28 images and labels.
fn images(n: usize) -> (Vec<u8>, Vec<u8>) {
    let pixels = (0..n * 28 * 28 * 3).map(|i| (i * 7 % 251) as u8).collect();
    let labels = (0..n).map(|i| (i % 7) as u8).collect();
    (pixels, labels)
}

fn load_one(name: &str, bytes: &[u8]) -> Result<Dataset, DataError> {
    Dataset::load(&[(name, bytes)], Limits::default())
}

#[test]
fn bundled_sample_loads_with_its_documented_counts() {
    let bytes = std::fs::read(bundled_sample()).expect("data/dermamnist-ham10000-28-sample.npz (see data/README.md)");
    let dataset = load_one("dermamnist-ham10000-28-sample.npz", &bytes).unwrap();
    let summary = dataset.summary();
    assert_eq!((dataset.rows(Split::Train), dataset.rows(Split::Val)), (1000, 200));
    assert_eq!((summary.image_size, summary.channels), ([28, 28], 3));
    let counts =
        |split| -> Vec<usize> { summary.splits.iter().find(|s| s.split == split).unwrap().class_counts.iter().map(|c| c.count).collect() };
    // The table in data/README.md.
    assert_eq!(counts(Split::Train), [33, 51, 110, 11, 111, 670, 14]);
    assert_eq!(counts(Split::Val), [7, 10, 22, 2, 22, 134, 3]);
}

#[test]
fn real_dermamnist_file_loads_with_its_documented_counts() {
    // The full file lives beside the repository (../shared), not in it: checked where it is.
    let Ok(bytes) = std::fs::read(real_data()) else {
        eprintln!("SKIPPED: {} is not here (a clone without ../shared); the bundled sample is checked instead", real_data().display());
        return;
    };
    let dataset = load_one("dermamnist-ham10000-28.npz", &bytes).unwrap();
    let summary = dataset.summary();
    assert_eq!(dataset.rows(Split::Train), 7007);
    assert_eq!(dataset.rows(Split::Val), 1003);
    assert_eq!(dataset.rows(Split::Test), 0, "this copy has no test split, and that is fine");
    assert_eq!(summary.image_size, [28, 28]);
    assert_eq!(summary.channels, 3);
    let train = summary.splits.iter().find(|s| s.split == Split::Train).unwrap();
    let counts: Vec<usize> = train.class_counts.iter().map(|c| c.count).collect();
    assert_eq!(counts.iter().sum::<usize>(), 7007);
    // Official DermaMNIST train counts, which the README says this copy matches within ±2.
    let official = [228, 359, 769, 80, 779, 4693, 99];
    for ((got, want), name) in counts.iter().zip(official).zip(dermaebm::data::DERMAMNIST_CLASSES) {
        assert!((*got as i64 - want as i64).abs() <= 2, "{name}: {got} vs official {want}");
    }
    assert_eq!(train.class_counts[5].name, "nv");
    let nv_share = counts[5] as f64 / 7007.0;
    assert!((0.66..0.68).contains(&nv_share), "nv is about 67%: {nv_share}");
    // README: mean pixel 0.7635, 0.5462, 0.5706.
    for (got, want) in summary.mean_pixel.iter().zip([0.7635, 0.5462, 0.5706]) {
        assert!((got - want).abs() < 0.01, "mean pixel {got} vs {want}");
    }
    // A preview is RGBA and batches are in [-1, 1].
    assert_eq!(dataset.rgba(Split::Val, 0).unwrap().len(), 28 * 28 * 4);
    let device = Device::flex();
    let source = BatchSource::new(&dataset, Split::Train, &device, BatchSource::DEFAULT_DEVICE_BYTES);
    let (batch, labels) = source.draw(&dataset, 8, &mut rand::rngs::StdRng::seed_from_u64(1), &device);
    assert_eq!(labels.map(|l| l.len()), Some(8), "the train split is labelled");
    assert_eq!(batch.dims(), [8, 3, 28, 28]);
    let values = block_on(read_values(batch)).unwrap();
    assert!(values.iter().all(|v| (-1.0..=1.0).contains(v)));
}

#[test]
fn stored_npz_deflated_npz_and_bare_npy_load_identically() {
    let (pixels, labels) = images(5);
    let imgs = npy("|u1", &[5, 28, 28, 3], &pixels, false, 1);
    let labs = npy("|u1", &[5, 1], &labels, false, 1);
    let stored = npz(&[("train_images", imgs.clone()), ("train_labels", labs.clone())], false);
    let deflated = npz(&[("train_images", imgs.clone()), ("train_labels", labs.clone())], true);
    let a = load_one("stored.npz", &stored).unwrap();
    let b = load_one("deflated.npz", &deflated).unwrap();
    let c = Dataset::load(&[("train_images.npy", &imgs), ("train_labels.npy", &labs)], Limits::default()).unwrap();
    // Version 2 and 3 headers, labels as int64 (N,) instead of uint8 (N, 1).
    let wide: Vec<u8> = labels.iter().flat_map(|&l| (l as i64).to_le_bytes()).collect();
    let d = Dataset::load(
        &[("train_images.npy", &npy("|u1", &[5, 28, 28, 3], &pixels, false, 2)), ("train_labels.npy", &npy("<i8", &[5], &wide, false, 3))],
        Limits::default(),
    )
    .unwrap();
    for other in [&b, &c, &d] {
        let (x, y) = (a.summary(), other.summary());
        assert_eq!((x.total_rows, &x.splits, &x.mean_pixel), (y.total_rows, &y.splits, &y.mean_pixel));
        assert_eq!(a.split(Split::Train).unwrap().pixels, other.split(Split::Train).unwrap().pixels);
    }
}

#[test]
fn grayscale_and_shards_merge() {
    let gray = npy("|u1", &[4, 28, 28], &vec![100u8; 4 * 784], false, 1);
    let g = load_one("gray.npz", &npz(&[("val_images", gray)], true)).unwrap();
    assert_eq!(g.channels, 1);
    assert_eq!(g.rows(Split::Val), 4);
    // Two shards of the same size merge per split.
    let (p1, l1) = images(3);
    let (p2, l2) = images(2);
    let s1 =
        npz(&[("train_images", npy("|u1", &[3, 28, 28, 3], &p1, false, 1)), ("train_labels", npy("|u1", &[3, 1], &l1, false, 1))], true);
    let s2 =
        npz(&[("train_images", npy("|u1", &[2, 28, 28, 3], &p2, false, 1)), ("train_labels", npy("|u1", &[2, 1], &l2, false, 1))], true);
    let merged = Dataset::load(&[("a.npz", &s1), ("b.npz", &s2)], Limits::default()).unwrap();
    assert_eq!(merged.rows(Split::Train), 5);
    assert_eq!(merged.summary().files, vec!["a.npz", "b.npz"]);
    assert_eq!(merged.label(Split::Train, 4), Some(1));
}

fn expect_err(name: &str, bytes: &[u8]) -> DataError {
    load_one(name, bytes).expect_err("this file must be rejected")
}

#[test]
fn not_a_zip_or_npy() {
    let e = expect_err("photo.jpg", b"\xff\xd8\xff\xe0 JFIF not an array");
    assert!(matches!(e, DataError::NotRecognised { .. }), "{e}");
    assert!(e.to_string().contains("photo.jpg"));
}

#[test]
fn truncated_npz_and_npy() {
    let (pixels, labels) = images(3);
    let full = npz(
        &[("train_images", npy("|u1", &[3, 28, 28, 3], &pixels, false, 1)), ("train_labels", npy("|u1", &[3, 1], &labels, false, 1))],
        true,
    );
    let e = expect_err("cut.npz", &full[..full.len() / 2]);
    assert!(matches!(e, DataError::Truncated { .. }), "{e}");
    let bare = npy("|u1", &[3, 28, 28, 3], &pixels, false, 1);
    let e = expect_err("train_images.npy", &bare[..bare.len() - 100]);
    assert!(matches!(e, DataError::Truncated { .. }), "{e}");
}

#[test]
fn missing_image_array() {
    let e = expect_err("labels-only.npz", &npz(&[("something_else", npy("|u1", &[2], &[1, 2], false, 1))], true));
    assert!(matches!(&e, DataError::MissingImages { found, .. } if found.contains("something_else")), "{e}");
}

#[test]
fn label_count_differs_from_image_count() {
    let (pixels, _) = images(3);
    let e = expect_err(
        "bad.npz",
        &npz(
            &[("train_images", npy("|u1", &[3, 28, 28, 3], &pixels, false, 1)), ("train_labels", npy("|u1", &[2, 1], &[0, 1], false, 1))],
            true,
        ),
    );
    assert!(matches!(e, DataError::LabelCount { labels: 2, images: 3, .. }), "{e}");
}

#[test]
fn labels_without_images_or_twice_name_their_key() {
    let (pixels, labels) = images(3);
    let labelled = npz(
        &[("train_images", npy("|u1", &[3, 28, 28, 3], &pixels, false, 1)), ("train_labels", npy("|u1", &[3, 1], &labels, false, 1))],
        true,
    );
    // Bare .npy label files take their split from the file name.
    let bare_labels = npy("|u1", &[3, 1], &labels, false, 1);
    let orphan = Dataset::load(&[("a.npz", &labelled), ("val_labels.npy", &bare_labels)], Limits::default()).unwrap_err();
    assert!(matches!(&orphan, DataError::OrphanLabels { file, key } if file == "val_labels.npy" && key == "val_labels"), "{orphan}");
    let twice = Dataset::load(&[("a.npz", &labelled), ("train_labels.npy", &bare_labels)], Limits::default()).unwrap_err();
    assert!(
        matches!(&twice, DataError::DuplicateLabels { file, key, .. } if file == "train_labels.npy" && key == "train_labels"),
        "{twice}"
    );
    assert!(twice.to_string().contains("already has its labels"), "{twice}");
}

#[test]
fn images_that_are_not_uint8() {
    let floats = vec![0u8; 2 * 28 * 28 * 3 * 8];
    let e = expect_err("float.npz", &npz(&[("train_images", npy("<f8", &[2, 28, 28, 3], &floats, false, 1))], true));
    assert!(matches!(&e, DataError::DType { dtype, .. } if dtype == "<f8"), "{e}");
    assert!(e.to_string().contains("<f8"), "the message says which dtype: {e}");
}

#[test]
fn unsupported_shapes() {
    for (shape, name) in [
        (vec![2usize, 28, 28, 4], "four channels"),
        (vec![2, 28, 20, 3], "not square"),
        (vec![2, 784], "flat"),
        (vec![1, 4, 4, 3], "too small"),
    ] {
        let n: usize = shape.iter().product();
        let e = expect_err(name, &npz(&[("train_images", npy("|u1", &shape, &vec![0; n], false, 1))], true));
        assert!(matches!(e, DataError::Shape { .. }), "{name}: {e}");
    }
}

#[test]
fn shards_of_different_image_sizes() {
    let a = npz(&[("train_images", npy("|u1", &[1, 28, 28, 3], &[0; 2352], false, 1))], true);
    let b = npz(&[("train_images", npy("|u1", &[1, 64, 64, 3], &vec![0; 64 * 64 * 3], false, 1))], true);
    let e = Dataset::load(&[("a.npz", &a), ("b.npz", &b)], Limits::default()).unwrap_err();
    assert!(matches!(&e, DataError::ShapeMismatch { file, .. } if file == "b.npz"), "{e}");
}

#[test]
fn fortran_order() {
    let e = expect_err("f.npz", &npz(&[("train_images", npy("|u1", &[1, 28, 28, 3], &[0; 2352], true, 1))], true));
    assert!(matches!(e, DataError::FortranOrder { .. }), "{e}");
}

#[test]
fn header_too_large() {
    let mut bytes = b"\x93NUMPY\x02\x00".to_vec();
    bytes.extend((10_000_000u32).to_le_bytes());
    bytes.extend(vec![b' '; 100]);
    let e = expect_err("train_images.npy", &bytes);
    assert!(matches!(e, DataError::HeaderTooLarge { size: 10_000_000, .. }), "{e}");
}

#[test]
fn zip_bomb_is_capped_before_allocation() {
    // 64 MiB of zeros deflates to ~64 KiB; with a 1 MiB cap it must be refused.
    let zeros = npy("|u1", &[1024 * 32, 32, 32, 2], &[], false, 1);
    let mut entry = zeros;
    entry.resize(64 << 20, 0);
    let bomb = npz(&[("train_images", entry)], true);
    assert!(bomb.len() < 1 << 20);
    let e = load_shard("bomb.npz", &bomb, Limits { max_entry_bytes: 1 << 20 }).unwrap_err();
    assert!(matches!(e, DataError::TooLarge { limit: 1048576, .. }), "{e}");
}

#[test]
fn bracket_heavy_header_is_refused_without_parsing() {
    // Found by fuzzing: nested brackets made the header parser backtrack for minutes.
    let nested = format!("{{'descr': '|u1', 'fortran_order': False, 'shape': {}1,{}, }}", "(".repeat(40), ")".repeat(40));
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend((nested.len() as u16).to_le_bytes());
    bytes.extend(nested.as_bytes());
    let e = expect_err("train_images.npy", &bytes);
    assert!(matches!(&e, DataError::BadNpy { detail, .. } if detail.contains("plain array")), "{e}");
}

#[test]
fn fuzz_found_slow_header_is_refused() {
    // libFuzzer's timeout input: a version-3 header of 28 nested braces.
    // (tests/fixtures/README.md says where each fixture comes from.)
    const INPUT: &[u8] = include_bytes!("../fixtures/fuzz-slow-header.npy");
    let e = expect_err("fuzz.npy", INPUT);
    assert!(matches!(e, DataError::BadNpy { .. } | DataError::Truncated { .. }), "{e}");
}
