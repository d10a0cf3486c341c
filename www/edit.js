// Inpainting and denoising: pick an image, draw a mask (or use a preset), and let Langevin
// repaint only the masked pixels; or add noise and run a short chain from the noisy image.
import { drawGrid } from "./pkg/grid.js";
import { chosenClass } from "./generate.js";
import { $, download, imageFileRgba, show } from "./ui.js";
import { call, onRefresh, refresh, state } from "./session.js";

const edit = { rgba: null, mask: null, result: null, drawing: false, value: 1 };
const SCALE = 8;

function drawSource() {
  const canvas = $("edit-source"), side = state.side;
  if (!edit.rgba) {
    canvas.width = canvas.height = side * SCALE;
    const blank = canvas.getContext("2d");
    blank.fillStyle = "#eee";
    blank.fillRect(0, 0, canvas.width, canvas.height);
    return;
  }
  // The image as every grid draws it, then the mask over it.
  drawGrid(canvas, edit.rgba, side, 1, { columns: 1, scale: SCALE, gap: 0 });
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "rgba(40, 120, 255, 0.45)";
  for (let p = 0; p < side * side; p++) if (edit.mask[p]) ctx.fillRect((p % side) * SCALE, Math.floor(p / side) * SCALE, SCALE, SCALE);
  canvas.dataset.masked = String(edit.mask.reduce((a, b) => a + b, 0));
}

function setSource(rgba) {
  edit.rgba = rgba;
  // A new source carries no added noise (Add noise sets it again afterwards).
  edit.noiseSigma = undefined;
  if (!edit.mask || edit.mask.length !== state.side * state.side) edit.mask = new Uint8Array(state.side * state.side);
  edit.result = null;
  drawSource();
  refresh();
}

function paint(e) {
  const canvas = $("edit-source"), rect = canvas.getBoundingClientRect(), side = state.side;
  const x = Math.floor(((e.clientX - rect.left) / rect.width) * side), y = Math.floor(((e.clientY - rect.top) / rect.height) * side);
  for (let dy = -1; dy <= 1; dy++)
    for (let dx = -1; dx <= 1; dx++) {
      const px = x + dx, py = y + dy;
      if (px >= 0 && py >= 0 && px < side && py < side) edit.mask[py * side + px] = edit.value;
    }
  drawSource();
}

function showResult(r, what) {
  edit.result = r;
  // The last edit and its mask, for the curious and the tests.
  state.lastEdit = { ...r, mask: edit.mask.slice() };
  drawGrid($("edit-before"), r.before, r.side, 1, { scale: 4 });
  drawGrid($("edit-after"), r.after, r.side, 1, { scale: 4 });
  $("edit-result").textContent = `${what}: energy ${r.energy_before[0].toFixed(3)} → ${r.energy_after[0].toFixed(3)} (lower = more likely)`;
  refresh();
}

async function guarded(button, task) {
  show($("edit-error"), "");
  button.disabled = true;
  try {
    await task();
  } catch (err) {
    show($("edit-error"), err.message);
  } finally {
    refresh();
  }
}

export function setupEdit() {
  onRefresh(() => {
    const ready = !!state.model?.ready && !state.running;
    // A recovery model counts Langevin steps per noise level.
    const perLevel = state.config?.recipe === "recovery";
    const label = perLevel ? "Langevin steps per level " : "Langevin steps ";
    if ($("edit-steps-label").firstChild.textContent !== label) {
      $("edit-steps-label").firstChild.textContent = label;
      $("edit-steps").value = String(perLevel ? state.config.recovery.steps : 60);
    }
    $("edit-pick-btn").disabled = !state.hasData || state.running;
    for (const b of document.querySelectorAll(".preset")) b.disabled = !edit.rgba;
    $("mask-clear-btn").disabled = !edit.rgba;
    $("inpaint-btn").disabled = !ready || !edit.rgba;
    $("add-noise-btn").disabled = !ready || !edit.rgba;
    $("denoise-btn").disabled = !ready || !edit.rgba;
    $("edit-png-btn").disabled = !edit.result;
  });
  $("edit-pick-btn").onclick = () =>
    guarded($("edit-pick-btn"), async () => setSource(await call("datasetImages", $("edit-split").value, Number($("edit-row").value), 1)));
  $("edit-file").onchange = (e) => {
    const f = e.target.files[0];
    if (f) guarded($("edit-pick-btn"), async () => setSource(await imageFileRgba(f, state.side)));
  };
  for (const b of document.querySelectorAll(".preset")) {
    b.onclick = () => guarded(b, async () => {
      edit.mask = await call("maskPreset", b.dataset.preset, state.side);
      drawSource();
    });
  }
  $("mask-clear-btn").onclick = () => {
    edit.mask.fill(0);
    drawSource();
  };
  const canvas = $("edit-source");
  canvas.onpointerdown = (e) => {
    if (!edit.rgba) return;
    edit.drawing = true;
    edit.value = e.button === 2 || e.shiftKey ? 0 : 1; // right button or shift erases
    canvas.setPointerCapture(e.pointerId);
    paint(e);
  };
  canvas.onpointermove = (e) => edit.drawing && paint(e);
  canvas.onpointerup = canvas.onpointercancel = () => (edit.drawing = false);
  canvas.oncontextmenu = (e) => e.preventDefault();

  $("inpaint-btn").onclick = () => guarded($("inpaint-btn"), async () => {
    if (!edit.mask.some((m) => m)) throw new Error("Mark the pixels to fill in first (draw on the image or pick a preset).");
    showResult(await call("inpaint", edit.rgba, 1, edit.mask, Number($("edit-steps").value), chosenClass()), "Inpainted");
  });
  $("add-noise-btn").onclick = () => guarded($("add-noise-btn"), async () => {
    const sigma = Number($("noise-sigma").value);
    setSource(await call("addNoise", edit.rgba, 1, sigma));
    // A recovery model starts denoising at the level whose noise matches what was added.
    edit.noiseSigma = sigma;
  });
  $("denoise-btn").onclick = () => guarded($("denoise-btn"), async () => {
    showResult(await call("denoise", edit.rgba, 1, Number($("edit-steps").value), chosenClass(), edit.noiseSigma ?? Number($("noise-sigma").value)), "Denoised");
  });
  $("edit-png-btn").onclick = () => guarded($("edit-png-btn"), async () => {
    const both = new Uint8Array(edit.result.before.length * 2);
    both.set(edit.result.before);
    both.set(edit.result.after, edit.result.before.length);
    download(await call("encodePng", both, edit.result.side, 2, 4), "dermaebm-before-after.png", "image/png");
  });
  drawSource();
}
