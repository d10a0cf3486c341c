//! Image grids and chains as PNG and animated GIF bytes (shared by the site and `debm`).

/// Images (each H×W×C bytes, C = 1 or 3) tiled into one RGBA grid with a 1-pixel gutter.
pub struct Grid {
    pub width: usize,
    pub height: usize,
    pub rgba: Vec<u8>,
}

pub fn grid(images: &[Vec<u8>], side: usize, channels: usize, columns: usize, scale: usize) -> Grid {
    let columns = columns.max(1);
    let scale = scale.max(1);
    let rows = images.len().div_ceil(columns).max(1);
    let cell = side * scale + 1;
    let (width, height) = (columns * cell + 1, rows * cell + 1);
    let mut rgba = vec![255u8; width * height * 4];
    for (i, img) in images.iter().enumerate() {
        let (ox, oy) = ((i % columns) * cell + 1, (i / columns) * cell + 1);
        for y in 0..side * scale {
            for x in 0..side * scale {
                let p = ((y / scale) * side + x / scale) * channels;
                let px = if channels == 1 { [img[p]; 3] } else { [img[p], img[p + 1], img[p + 2]] };
                let o = ((oy + y) * width + ox + x) * 4;
                rgba[o..o + 3].copy_from_slice(&px);
                rgba[o + 3] = 255;
            }
        }
    }
    Grid { width, height, rgba }
}

pub fn png(g: &Grid) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, g.width as u32, g.height as u32);
        enc.set_color(png::ColorType::Rgba);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc.write_header().map_err(|e| e.to_string())?;
        w.write_image_data(&g.rgba).map_err(|e| e.to_string())?;
    }
    Ok(out)
}

/// An animated GIF of equally sized frames, `delay_cs` hundredths of a second each; the last
/// frame is held for a second. Loops forever.
pub fn gif(frames: &[Grid], delay_cs: u16) -> Result<Vec<u8>, String> {
    let first = frames.first().ok_or("a GIF needs at least one frame")?;
    let mut out = Vec::new();
    {
        let mut enc = gif::Encoder::new(&mut out, first.width as u16, first.height as u16, &[]).map_err(|e| e.to_string())?;
        enc.set_repeat(gif::Repeat::Infinite).map_err(|e| e.to_string())?;
        for (i, f) in frames.iter().enumerate() {
            if (f.width, f.height) != (first.width, first.height) {
                return Err("GIF frames must all have the same size".into());
            }
            let mut rgba = f.rgba.clone();
            let mut frame = gif::Frame::from_rgba_speed(f.width as u16, f.height as u16, &mut rgba, 10);
            frame.delay = if i + 1 == frames.len() { 100 } else { delay_cs };
            enc.write_frame(&frame).map_err(|e| e.to_string())?;
        }
    }
    Ok(out)
}

/// Images (each H×W×C bytes) as an `.npz` with one uint8 array `images` of shape [N, H, W, C]
/// (or [N, H, W] for grayscale), the layout MedMNIST and the quality tools read.
pub fn npz_images(images: &[Vec<u8>], side: usize, channels: usize) -> Result<Vec<u8>, String> {
    use npyz::WriterBuilder;
    let mut shape = vec![images.len() as u64, side as u64, side as u64];
    if channels > 1 {
        shape.push(channels as u64);
    }
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    zip.start_file("images.npy", options).map_err(|e| e.to_string())?;
    let mut writer =
        npyz::WriteOptions::<u8>::new().default_dtype().shape(&shape).writer(&mut zip).begin_nd().map_err(|e| e.to_string())?;
    writer.extend(images.iter().flatten().copied()).map_err(|e| e.to_string())?;
    writer.finish().map_err(|e| e.to_string())?;
    Ok(zip.finish().map_err(|e| e.to_string())?.into_inner())
}
