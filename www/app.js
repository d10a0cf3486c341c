// The page: draws and forwards user actions to the engine in a Web Worker.
import uPlot from "/vendor/uplot/uPlot.esm.js";
import * as store from "/store.js";

const $ = (id) => document.getElementById(id);
const worker = new Worker("/worker.js", { type: "module" });
let nextId = 1;
const pending = new Map();
worker.onmessage = ({ data }) => {
  if (data.event) return onEvent(data);
  const p = pending.get(data.id);
  pending.delete(data.id);
  data.ok ? p.resolve(data.result) : p.reject(new Error(data.error));
};
const call = (op, args, transfer = []) =>
  new Promise((resolve, reject) => {
    const id = nextId++;
    pending.set(id, { resolve, reject });
    worker.postMessage({ id, op, args }, transfer);
  });

const state = { config: null, side: 28, datasetFiles: null, lastChain: null, started: 0, startIter: 0, running: false, hasData: false };
window.dermaebm = { state, call }; // for tests and the curious

function show(el, text) {
  el.textContent = text ?? "";
  el.hidden = !text;
}

function drawGrid(canvas, rgba, side, count, columns, scale = 3) {
  if (!count) return;
  columns = Math.min(columns, count);
  const rows = Math.ceil(count / columns);
  const cell = side * scale + 2;
  canvas.width = columns * cell;
  canvas.height = rows * cell;
  const ctx = canvas.getContext("2d");
  ctx.imageSmoothingEnabled = false;
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  const tile = new OffscreenCanvas(side, side);
  const tctx = tile.getContext("2d");
  const bytes = side * side * 4;
  for (let i = 0; i < count; i++) {
    tctx.putImageData(new ImageData(new Uint8ClampedArray(rgba.slice(i * bytes, (i + 1) * bytes)), side, side), 0, 0);
    ctx.drawImage(tile, (i % columns) * cell + 1, Math.floor(i / columns) * cell + 1, side * scale, side * scale);
  }
}

// ---------- charts (uPlot) ----------
const series = { iter: [], loss: [], cd: [], reg: [], er: [], ef: [], lr: [] };
function makeChart(el, title, labels, colors, yLabel, format = (v) => v.toPrecision(3)) {
  const width = Math.max(300, el.parentElement.clientWidth - 8);
  return new uPlot(
    {
      title, width, height: 180,
      scales: { x: { time: false } },
      axes: [{ label: "iteration" }, { label: yLabel, size: 70, values: (u, vals) => vals.map(format) }],
      series: [{ label: "iteration" }, ...labels.map((label, i) => ({ label, stroke: colors[i], width: 1.5, value: (u, v) => (v == null ? "–" : format(v)) }))],
    },
    [[], ...labels.map(() => [])],
    el,
  );
}
const charts = {};
function setupCharts() {
  charts.loss = makeChart($("chart-loss"), "Loss terms", ["loss", "CD", "reg"], ["#8a3b2e", "#2e6f8a", "#7a8a2e"], "value");
  charts.energy = makeChart($("chart-energy"), "Mean energy", ["E(real)", "E(fake)"], ["#2e8a4a", "#b0502a"], "energy");
  charts.lr = makeChart($("chart-lr"), "Learning rate", ["lr"], ["#555"], "lr", (v) => v.toExponential(2));
}
function pushStats(s) {
  series.iter.push(s.iteration);
  series.loss.push(s.loss); series.cd.push(s.cd); series.reg.push(s.reg);
  series.er.push(s.energy_real); series.ef.push(s.energy_fake); series.lr.push(s.lr);
  charts.loss.setData([series.iter, series.loss, series.cd, series.reg]);
  charts.energy.setData([series.iter, series.er, series.ef]);
  charts.lr.setData([series.iter, series.lr]);
}

// ---------- events from the worker ----------
function onEvent(e) {
  if (e.event === "stats") {
    const s = e.stats;
    if (s.rolled_back) {
      show($("train-error"), `Training diverged; rolled back to iteration ${s.iteration} and lowered the learning rate.`);
      return;
    }
    pushStats(s);
    $("iter").textContent = String(s.iteration);
    const secs = (performance.now() - state.started) / 1000;
    const done = s.iteration - state.startIter;
    $("speed").textContent = `${(done / secs).toFixed(2)} it/s (${s.seconds.toFixed(2)} s/it)`;
    $("elapsed").textContent = `${secs.toFixed(0)} s`;
  } else if (e.event === "samples") {
    drawGrid($("buffer-grid"), e.rgba, state.side, e.rgba.length / (state.side * state.side * 4), 16);
  } else if (e.event === "checkpoint") {
    store.saveCheckpoint({ bytes: e.bytes, iteration: e.iteration, config: state.config, savedAt: Date.now() })
      .then(() => ($("ckpt").textContent = `iteration ${e.iteration} (${e.reason})`))
      .catch((err) => show($("train-error"), `Could not save the checkpoint: ${err.message}`));
  } else if (e.event === "training") {
    state.running = e.running;
    updateButtons();
  } else if (e.event === "error") {
    show($("train-error"), e.message);
  }
}

function updateButtons() {
  const r = state.running;
  $("start-btn").disabled = r || !state.hasData;
  $("pause-btn").disabled = !r;
  $("resume-btn").disabled = r || !state.trainingSetUp;
  $("stop-btn").disabled = !r && !state.trainingSetUp;
  $("save-btn").disabled = r;
  $("gen-btn").disabled = r || !state.hasModel;
  $("score-btn").disabled = r || !state.hasModel;
}

// ---------- settings ----------
const FIELDS = ["batch_size", "langevin_steps", "step_size", "noise_std", "alpha", "lr", "buffer_size", "seed"];
function fillSettings(config) {
  state.config = JSON.parse(config);
  state.side = state.config.image_size;
  for (const f of FIELDS) $("settings").elements[f].value = state.config[f];
}
async function applySettings() {
  const c = { ...state.config };
  for (const f of FIELDS) {
    const raw = $("settings").elements[f].value;
    const v = Number(raw);
    if (raw.trim() === "" || !Number.isFinite(v)) {
      show($("settings-error"), `${f.replace("_", " ")} must be a number`);
      return false;
    }
    c[f] = v;
  }
  try {
    await call("setConfig", { json: JSON.stringify(c) });
    state.config = c;
    show($("settings-error"), "");
    return true;
  } catch (err) {
    show($("settings-error"), err.message);
    return false;
  }
}

// ---------- data ----------
async function readFiles(files) {
  const bar = $("read-progress");
  bar.hidden = false;
  const total = files.reduce((a, f) => a + f.size, 0) || 1;
  let loaded = 0;
  const buffers = [];
  for (const f of files) {
    buffers.push(await new Promise((ok, fail) => {
      const r = new FileReader();
      r.onprogress = (ev) => (bar.value = (loaded + ev.loaded) / total);
      r.onload = () => ok(r.result);
      r.onerror = () => fail(r.error);
      r.readAsArrayBuffer(f);
    }));
    loaded += f.size;
  }
  bar.value = 1;
  return buffers;
}

async function loadDataset(names, buffers, { remember = true } = {}) {
  show($("data-error"), "");
  try {
    const copies = buffers.map((b) => b.slice(0));
    const summary = await call("loadDataset", { names, files: copies }, copies);
    state.hasData = true;
    state.datasetFiles = { names, buffers };
    fillSettings(await call("config"));
    renderSummary(summary);
    const val = summary.splits.find((s) => s.split === "val") ? "val" : summary.splits[0].split;
    const rgba = await call("datasetImages", { split: val, start: 0, count: 32 });
    drawGrid($("real-grid"), rgba, state.side, rgba.length / (state.side * state.side * 4), 16);
    if (remember) store.saveDataset({ names, buffers }).catch(() => {});
    state.hasModel = await call("hasModel");
    updateButtons();
  } catch (err) {
    show($("data-error"), err.message);
  } finally {
    $("read-progress").hidden = true;
  }
}

function renderSummary(s) {
  const classes = s.splits[0]?.class_counts.map((c) => c.name) ?? [];
  const head = `<tr><th>split</th><th>rows</th>${classes.map((c) => `<th>${c}</th>`).join("")}</tr>`;
  const rows = s.splits
    .map((sp) => `<tr><td>${sp.split}</td><td data-split="${sp.split}">${sp.rows}</td>${sp.class_counts.map((c) => `<td>${c.count}</td>`).join("")}</tr>`)
    .join("");
  const mean = s.mean_pixel.map((m) => m.toFixed(3)).join(", ");
  $("summary").innerHTML = `<p>${s.files.join(", ")}: ${s.total_rows} images of ${s.image_size[0]}×${s.image_size[1]} px, ${s.channels} channel(s); mean pixel (0–1) ${mean}</p><table>${head}${rows}</table>`;
}

// ---------- generation ----------
async function generate(preview = null) {
  const count = preview?.count ?? Number($("gen-count").value), steps = preview?.steps ?? Number($("gen-steps").value);
  const recordEvery = Math.max(1, Math.floor(steps / 8));
  try {
    $("gen-btn").disabled = true;
    const out = await call("generate", { count, steps, recordEvery });
    drawGrid($("gen-grid"), out.samples, out.side, out.count, 8, 4);
    state.lastChain = out;
    // Chain: one row per sample (up to 8), one column per recorded step.
    const n = Math.min(out.count, 8), frames = out.chain.length, bytes = out.side * out.side * 4;
    const tiles = new Uint8Array(n * frames * bytes);
    for (let i = 0; i < n; i++)
      for (let f = 0; f < frames; f++)
        tiles.set(out.chain[f][1].slice(i * bytes, (i + 1) * bytes), (i * frames + f) * bytes);
    drawGrid($("chain-grid"), tiles, out.side, n * frames, frames, 2);
    state.chainTiles = { tiles, columns: frames };
    $("png-btn").disabled = $("gif-btn").disabled = false;
  } catch (err) {
    show($("train-error"), err.message);
  } finally {
    updateButtons();
  }
}

function download(bytes, name, type) {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(new Blob([bytes], { type }));
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

// ---------- energies ----------
function auroc(likely, unlikely) {
  let wins = 0;
  for (const a of likely) for (const b of unlikely) wins += a < b ? 1 : a === b ? 0.5 : 0;
  return wins / (likely.length * unlikely.length);
}
let histChart = null;
async function scoreAll() {
  try {
    const real = state.hasData ? Array.from(await call("scoreSplit", { split: "val", limit: 512 }).catch(() => call("scoreSplit", { split: "train", limit: 512 }))) : [];
    const noise = Array.from(await call("scoreNoise", { count: 256 }));
    const gen = await call("generate", { count: 64, steps: Number($("gen-steps").value), recordEvery: 0 });
    const fake = Array.from(await call("scoreRgba", { rgba: gen.samples, count: gen.count }));
    const all = [...real, ...noise, ...fake];
    const lo = Math.min(...all), hi = Math.max(...all), bins = 40, w = (hi - lo) / bins || 1;
    const hist = (v) => { const h = new Array(bins).fill(0); for (const x of v) h[Math.min(bins - 1, Math.floor((x - lo) / w))]++; return h; };
    const xs = Array.from({ length: bins }, (_, i) => lo + (i + 0.5) * w);
    if (histChart) histChart.destroy();
    const width = Math.max(300, $("chart-hist").parentElement.clientWidth - 8);
    histChart = new uPlot({ title: "Energy histogram", width, height: 200, scales: { x: { time: false } }, axes: [{ label: "energy E(x)" }, { label: "count" }],
      series: [{}, { label: "real (val)", stroke: "#2e8a4a" }, { label: "uniform noise", stroke: "#888" }, { label: "samples", stroke: "#b0502a" }] },
      [xs, hist(real), hist(noise), hist(fake)], $("chart-hist"));
    $("auroc").textContent = real.length ? `AUROC real vs noise: ${auroc(real, noise).toFixed(4)} (1 = every real image has lower energy than every noise image)` : "Load a dataset to compare real images.";
  } catch (err) {
    show($("train-error"), err.message);
  }
}

async function scoreImageFile(file) {
  const bitmap = await createImageBitmap(file);
  const c = new OffscreenCanvas(state.side, state.side);
  const ctx = c.getContext("2d");
  ctx.drawImage(bitmap, 0, 0, state.side, state.side);
  const rgba = new Uint8Array(ctx.getImageData(0, 0, state.side, state.side).data.buffer);
  const [e] = await call("scoreRgba", { rgba, count: 1 });
  $("score-result").textContent = `${file.name}: E = ${e.toFixed(4)} (resized to ${state.side}×${state.side})`;
}

// ---------- training controls ----------
async function startTraining(continueModel) {
  show($("train-error"), "");
  if (!(await applySettings())) return;
  try {
    await call("startTraining", { continueModel });
    state.trainingSetUp = true;
    for (const k of Object.keys(series)) series[k].length = 0;
    await resumeTraining();
  } catch (err) {
    show($("train-error"), err.message);
  }
}
async function resumeTraining() {
  state.started = performance.now();
  state.startIter = await call("iteration");
  state.hasModel = true;
  await call("train", { sampleEvery: 5 });
}

// ---------- start-up ----------
async function main() {
  setupCharts();
  const params = new URLSearchParams(location.search);
  const { backend, config } = await call("create", { backend: params.get("backend") ?? "auto" });
  $("backend").textContent = backend.backend === "cpu" ? `Backend: CPU (burn flex in WebAssembly)` : `Backend: WebGPU — ${backend.adapter}`;
  $("backend").dataset.backend = backend.backend;
  if (backend.note) {
    const override = backend.note.includes("software") ? " To use it anyway, open this page with ?backend=gpu." : "";
    show($("backend-note"), backend.note + override);
  }
  fillSettings(config);
  // Shipped weights: samples within seconds of opening the page.
  try {
    const res = await fetch("/weights/dermamnist.debm");
    if (res.ok) {
      const info = await call("loadWeights", { bytes: await res.arrayBuffer() });
      fillSettings(await call("config"));
      $("model-status").textContent = `Shipped weights: ${info.iteration} iterations (${info.note}).`;
      state.hasModel = true;
      updateButtons();
      // A quick preview so the page shows samples within seconds even on the CPU; "Generate"
      // runs the full chain length.
      await generate({ count: 8, steps: 32 });
    } else {
      $("model-status").textContent = "No shipped weights in this build yet: load a dataset and train, or load a weights file.";
    }
  } catch (err) {
    $("model-status").textContent = `The shipped weights could not be loaded: ${err.message}`;
  }
  const saved = await store.loadCheckpoint().catch(() => null);
  if (saved) {
    $("resume-offer").hidden = false;
    $("resume-offer").firstChild.textContent = `A saved run was found (iteration ${saved.iteration}). `;
  }
}

$("gen-btn").onclick = () => generate();
$("png-btn").onclick = async () => {
  const { tiles, columns } = state.chainTiles;
  download(await call("encodePng", { rgba: tiles, side: state.side, columns, scale: 3 }), "dermaebm-chain.png", "image/png");
};
$("gif-btn").onclick = async () => {
  const out = state.lastChain;
  const frames = out.chain.map(([, rgba]) => rgba);
  download(await call("encodeGif", { frames, side: out.side, columns: Math.min(8, out.count), scale: 3 }), "dermaebm-chain.gif", "image/gif");
};
$("files").onchange = async (e) => {
  const files = [...e.target.files];
  if (files.length) loadDataset(files.map((f) => f.name), await readFiles(files));
};
const drop = $("drop");
drop.ondragover = (e) => { e.preventDefault(); drop.classList.add("over"); };
drop.ondragleave = () => drop.classList.remove("over");
drop.ondrop = async (e) => {
  e.preventDefault();
  drop.classList.remove("over");
  const files = [...e.dataTransfer.files];
  if (files.length) loadDataset(files.map((f) => f.name), await readFiles(files));
};
$("defaults-btn").onclick = async () => {
  const d = JSON.parse(await call("defaultConfig"));
  for (const f of FIELDS) $("settings").elements[f].value = d[f];
};
$("start-btn").onclick = () => startTraining(false);
$("pause-btn").onclick = () => call("pause");
$("resume-btn").onclick = resumeTraining;
$("stop-btn").onclick = async () => { await call("pause"); state.trainingSetUp = false; updateButtons(); };
$("save-btn").onclick = async () => download(await call("saveWeights"), `dermaebm-${await call("iteration")}.debm`, "application/octet-stream");
$("weights-file").onchange = async (e) => {
  const f = e.target.files[0];
  if (!f) return;
  try {
    const info = await call("loadWeights", { bytes: await f.arrayBuffer() });
    fillSettings(await call("config"));
    $("model-status").textContent = `Loaded ${f.name}: ${info.iteration} iterations.`;
    state.hasModel = true;
    show($("train-error"), "");
    updateButtons();
  } catch (err) {
    show($("train-error"), `${f.name}: ${err.message}`);
  }
};
$("score-btn").onclick = scoreAll;
$("score-file").onchange = (e) => e.target.files[0] && scoreImageFile(e.target.files[0]).catch((err) => show($("train-error"), err.message));
$("resume-saved-btn").onclick = async () => {
  try {
    const saved = await store.loadCheckpoint();
    const data = await store.loadDataset();
    if (data) await loadDataset(data.names, data.buffers, { remember: false });
    await call("loadWeights", { bytes: saved.bytes });
    fillSettings(await call("config"));
    $("resume-offer").hidden = true;
    if (!state.hasData) {
      show($("train-error"), "The saved run's dataset is not stored here; load it again, then press Resume.");
      return;
    }
    await call("startTraining", { continueModel: true });
    state.trainingSetUp = true;
    $("iter").textContent = String(saved.iteration);
    await resumeTraining();
  } catch (err) {
    show($("train-error"), err.message);
  }
};

main().catch((err) => show($("backend-note"), `The engine failed to start: ${err.message}`));
