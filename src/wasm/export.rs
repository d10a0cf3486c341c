//! Image grids as PNG and chains as animated GIF, encoded in Rust (no canvas needed); the
//! current model as a safetensors file for PyTorch and other tools.

use js_sys::Uint8Array;
use wasm_bindgen::prelude::*;

use super::convert::rgba_to_rgb_images;
use super::{BusyGuard, Engine, err};
use crate::weights::{load_model, model_bytes};
use crate::{Device, NetShape, export};

fn check_layout(columns: usize, scale: usize) -> Result<(), JsError> {
    if !(1..=256).contains(&columns) || !(1..=16).contains(&scale) {
        return Err(err(format!("columns must be 1–256 and scale 1–16 (got {columns} and {scale})")));
    }
    Ok(())
}

#[wasm_bindgen]
impl Engine {
    /// Encodes RGBA images (each side×side) as a PNG grid.
    #[wasm_bindgen(js_name = encodePng)]
    pub fn encode_png(rgba: &[u8], side: usize, columns: usize, scale: usize) -> Result<Uint8Array, JsError> {
        check_layout(columns, scale)?;
        let images = rgba_to_rgb_images(rgba, side)?;
        let png = export::png(&export::grid(&images, side, 3, columns, scale)).map_err(err)?;
        Ok(Uint8Array::from(png.as_slice()))
    }

    /// Encodes frames (each a concatenation of RGBA images) as an animated GIF.
    #[wasm_bindgen(js_name = encodeGif)]
    pub fn encode_gif(frames: Vec<Uint8Array>, side: usize, columns: usize, scale: usize) -> Result<Uint8Array, JsError> {
        check_layout(columns, scale)?;
        if frames.is_empty() || frames.len() > 512 {
            return Err(err(format!("a GIF needs 1 to 512 frames (got {})", frames.len())));
        }
        let grids = frames
            .iter()
            .map(|f| rgba_to_rgb_images(&f.to_vec(), side).map(|imgs| export::grid(&imgs, side, 3, columns, scale)))
            .collect::<Result<Vec<_>, _>>()?;
        let gif = export::gif(&grids, 12).map_err(err)?;
        Ok(Uint8Array::from(gif.as_slice()))
    }

    /// The current model's energy net as a safetensors file, with PyTorch's parameter names
    /// and layouts (`crate::safetensors`; README "Weights for PyTorch").
    #[wasm_bindgen(js_name = saveSafetensors)]
    pub async fn save_safetensors(&self) -> Result<Uint8Array, JsError> {
        let _busy = BusyGuard::take(&self.state)?;
        let (model, config) = {
            let s = self.state.borrow();
            (self.current_model(&s, "there is no model to export yet")?, s.session.config().clone())
        };
        // WebGPU reads back only asynchronously: through the weights' bytes to the CPU backend,
        // where the export reads the values synchronously.
        let shape = NetShape::from(&config);
        let bytes = model_bytes(&model, shape).await.map_err(err)?;
        let on_cpu = load_model(shape, &bytes, &Device::flex()).map_err(err)?;
        let file = crate::safetensors::to_safetensors(&on_cpu, &config).map_err(err)?;
        Ok(Uint8Array::from(file.as_slice()))
    }
}
