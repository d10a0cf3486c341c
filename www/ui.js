// Small page helpers: element lookup, messages, downloads, images from files.

export const $ = (id) => document.getElementById(id);

/** Shows `text` in `el`, or hides it when empty. */
export function show(el, text) {
  el.textContent = text ?? "";
  el.hidden = !text;
}

export function download(bytes, name, type) {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(new Blob([bytes], { type }));
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

/** An image file scaled to side×side, as RGBA bytes. */
export async function imageFileRgba(file, side) {
  let bitmap;
  try {
    bitmap = await createImageBitmap(file);
  } catch {
    throw new Error(`${file.name}: not an image this browser can read`);
  }
  const canvas = new OffscreenCanvas(side, side);
  const ctx = canvas.getContext("2d");
  ctx.drawImage(bitmap, 0, 0, side, side);
  return new Uint8Array(ctx.getImageData(0, 0, side, side).data.buffer);
}

export const seconds = (s) => (s < 60 ? `${s.toFixed(0)} s` : `${Math.floor(s / 60)} min ${(s % 60).toFixed(0)} s`);

/** Labels for evenly spaced ticks, each with the decimals their spacing needs to tell them apart. */
export function tickLabels(ticks) {
  const step = ticks.length > 1 ? Math.abs(ticks[1] - ticks[0]) : 0;
  const decimals = step > 0 ? Math.min(8, Math.max(0, Math.ceil(-Math.log10(step) - 1e-6))) : 3;
  return ticks.map((t) => t.toFixed(decimals));
}
