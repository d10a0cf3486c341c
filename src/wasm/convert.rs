//! Image bytes between JavaScript (RGBA, as canvases hold them) and the core (H×W×C).

use wasm_bindgen::JsError;

use super::err;
use crate::data::dataset::{tensor_values_to_images, to_rgba};
use crate::limits::{MAX_IMAGES_PER_CALL, check_count};

/// NCHW values in [-1, 1] → RGBA bytes of each image, concatenated.
pub fn values_to_rgba(values: &[f32], shape: [usize; 3]) -> Vec<u8> {
    let [c, h, w] = shape;
    images_to_rgba(&tensor_values_to_images(values, c, h, w), c)
}

/// H×W×C images → RGBA bytes, concatenated.
pub fn images_to_rgba(images: &[Vec<u8>], channels: usize) -> Vec<u8> {
    images.iter().flat_map(|img| to_rgba(img, channels)).collect()
}

/// `count` side×side RGBA images → H×W×C images (C = 1 keeps the red channel).
pub fn rgba_to_images(rgba: &[u8], count: usize, side: usize, channels: usize) -> Result<Vec<Vec<u8>>, JsError> {
    let per_image = side * side * 4;
    check_count("count", count, MAX_IMAGES_PER_CALL).map_err(err)?;
    if rgba.len() != count * per_image {
        return Err(err(format!("expected {count} RGBA images of {side}×{side} ({} bytes), got {} bytes", count * per_image, rgba.len())));
    }
    Ok(rgba.chunks_exact(per_image).map(|img| img.chunks_exact(4).flat_map(|p| p[..channels.min(3)].to_vec()).collect()).collect())
}

/// RGBA bytes of whole side×side images → RGB images (for PNG/GIF export).
pub fn rgba_to_rgb_images(rgba: &[u8], side: usize) -> Result<Vec<Vec<u8>>, JsError> {
    if side == 0 || side > crate::config::MAX_IMAGE_SIZE {
        return Err(err(format!("side must be between 1 and {} pixels (got {side})", crate::config::MAX_IMAGE_SIZE)));
    }
    let n = side * side * 4;
    if rgba.is_empty() || !rgba.len().is_multiple_of(n) {
        return Err(err(format!("expected whole {side}×{side} RGBA images, got {} bytes", rgba.len())));
    }
    rgba_to_images(rgba, rgba.len() / n, side, 3)
}
