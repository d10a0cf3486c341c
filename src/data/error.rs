//! Everything that can be wrong with an uploaded file, said so a person can act on it.

/// A file that could not be loaded. `file` is the name the user gave it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DataError {
    #[error("{file}: not a .npz (zip) or .npy file (it starts with neither `PK` nor `\\x93NUMPY`)")]
    NotRecognised { file: String },
    #[error("{file}: the file is truncated or damaged ({detail})")]
    Truncated { file: String, detail: String },
    #[error("{file}: no image array found; expected `train_images`, `val_images` or `test_images` (the file holds: {found})")]
    MissingImages { file: String, found: String },
    #[error("{file}: `{split}_labels` has {labels} rows but `{split}_images` has {images}")]
    LabelCount { file: String, split: String, labels: usize, images: usize },
    #[error("{file}: `{key}` has dtype {dtype}; images must be uint8 (0–255) and labels integers")]
    DType { file: String, key: String, dtype: String },
    #[error("{file}: `{key}` has shape {shape:?}; expected {expected}")]
    Shape { file: String, key: String, shape: Vec<u64>, expected: String },
    #[error(
        "{file}: images of {got} do not match the {expected} images of the files loaded before; load shards of one image size together"
    )]
    ShapeMismatch { file: String, got: String, expected: String },
    #[error("{file}: `{key}` is stored in Fortran (column-major) order; save it with C order (numpy's default)")]
    FortranOrder { file: String, key: String },
    #[error("{file}: `{key}` has a {size}-byte .npy header, more than the {limit} bytes allowed")]
    HeaderTooLarge { file: String, key: String, size: usize, limit: usize },
    #[error("{file}: entry `{key}` would inflate to {size} bytes, more than the {limit} bytes allowed")]
    TooLarge { file: String, key: String, size: u64, limit: u64 },
    #[error("{file}: `{key}` is not a valid .npy array ({detail})")]
    BadNpy { file: String, key: String, detail: String },
    #[error("{file}: `{key}` holds label {label}, outside the 0–255 range of class indices")]
    BadLabel { file: String, key: String, label: i64 },
    #[error("{file}: labels `{key}` have no matching images; load them with their images")]
    OrphanLabels { file: String, key: String },
    #[error("{file}: labels `{key}` come a second time: the {split} split already has its labels")]
    DuplicateLabels { file: String, key: String, split: String },
    #[error("no images: {0}")]
    Empty(String),
}
