// Draws RGBA images (side×side each, concatenated) as a grid on a canvas, pixels kept sharp.

export function drawGrid(canvas, rgba, side, count, { columns = 8, scale = 3, gap = 2, background = "#fff" } = {}) {
  if (!count) return;
  columns = Math.max(1, Math.min(columns, count));
  const rows = Math.ceil(count / columns);
  const cell = side * scale + gap;
  canvas.width = columns * cell;
  canvas.height = rows * cell;
  const ctx = canvas.getContext("2d");
  ctx.imageSmoothingEnabled = false;
  ctx.fillStyle = background;
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  const tile = new OffscreenCanvas(side, side);
  const tileCtx = tile.getContext("2d");
  const bytes = side * side * 4;
  for (let i = 0; i < count; i++) {
    const pixels = new Uint8ClampedArray(rgba.buffer, rgba.byteOffset + i * bytes, bytes);
    tileCtx.putImageData(new ImageData(new Uint8ClampedArray(pixels), side, side), 0, 0);
    const x = (i % columns) * cell + gap / 2, y = Math.floor(i / columns) * cell + gap / 2;
    ctx.drawImage(tile, x, y, side * scale, side * scale);
  }
}

/** Re-orders chain frames into one row per chain: tiles[chain][frame]. */
export function chainTiles(frames, side, chains) {
  const bytes = side * side * 4;
  const tiles = new Uint8Array(chains * frames.length * bytes);
  for (let i = 0; i < chains; i++) {
    frames.forEach((frame, f) => tiles.set(frame.rgba.subarray(i * bytes, (i + 1) * bytes), (i * frames.length + f) * bytes));
  }
  return tiles;
}
