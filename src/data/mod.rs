//! MedMNIST data (DermaMNIST first): `.npz`/`.npy` bytes → validated images → batches.
//!
//! Works on bytes only, so the browser can hand over an uploaded file as it is.

pub mod dataset;
pub mod error;
pub mod npy;
pub mod npz;
pub mod shard;

pub use dataset::{BatchSource, DERMAMNIST_CLASSES, Dataset, Summary, class_name, images_to_tensor};
pub use error::DataError;
pub use npz::Limits;
pub use shard::{Shard, Split, load_shard};
