// Uploading MedMNIST shards: read with a progress bar, parse in the engine, show the summary.
import { drawGrid } from "./pkg/grid.js";
import { $, show } from "./ui.js";
import { call, evaluationSplit, refresh, state } from "./session.js";

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
      r.onerror = () => fail(new Error(`${f.name}: could not be read (${r.error?.message ?? "unknown error"})`));
      r.readAsArrayBuffer(f);
    }));
    loaded += f.size;
  }
  bar.value = 1;
  return buffers;
}

function renderSummary(s) {
  const classes = s.splits.find((sp) => sp.class_counts.length)?.class_counts.map((c) => c.name) ?? [];
  const table = document.createElement("table");
  const head = table.createTHead().insertRow();
  for (const h of ["split", "rows", ...classes]) head.appendChild(document.createElement("th")).textContent = h;
  const body = table.createTBody();
  for (const sp of s.splits) {
    const row = body.insertRow();
    row.insertCell().textContent = sp.split;
    const rows = row.insertCell();
    rows.textContent = String(sp.rows);
    rows.dataset.split = sp.split;
    for (let i = 0; i < classes.length; i++) row.insertCell().textContent = String(sp.class_counts[i]?.count ?? "–");
  }
  const mean = s.mean_pixel.map((m) => m.toFixed(3)).join(", ");
  const p = document.createElement("p");
  p.textContent = `${s.files.join(", ")}: ${s.total_rows} images of ${s.image_size[0]}×${s.image_size[1]} px, ${s.channels} channel(s); mean pixel (0–1) ${mean}`;
  $("summary").replaceChildren(p, table);
}

/** Loads shards into the engine. They are stored for resuming after a reload when a run starts
 * (train.js), not here: a tab that only looks must not replace the data of another tab's run. */
export async function loadDataset(names, buffers) {
  show($("data-error"), "");
  try {
    // The engine gets copies: the originals stay here to be stored and reloaded after a restart.
    const summary = await call("loadDataset", names, buffers.map((b) => new Uint8Array(b.slice(0))));
    state.hasData = true;
    state.dataset = { names, buffers };
    state.summary = summary;
    renderSummary(summary);
    const split = evaluationSplit(summary);
    const rgba = await call("datasetImages", split, 0, 32);
    drawGrid($("real-grid"), rgba, state.side, rgba.length / (state.side * state.side * 4), { columns: 16 });
    return true;
  } catch (err) {
    show($("data-error"), err.message);
    return false;
  } finally {
    $("read-progress").hidden = true;
    refresh();
  }
}

async function loadPicked(files) {
  if (!files.length) return;
  try {
    await loadDataset(files.map((f) => f.name), await readFiles(files));
  } catch (err) {
    show($("data-error"), err.message);
    $("read-progress").hidden = true;
  }
}

/** The bundled sample shard (data/README.md), through the same path as an upload. */
const SAMPLE_DATA = "data/dermamnist-ham10000-28-sample.npz";

async function loadSampleData() {
  const button = $("sample-data-btn");
  button.disabled = true;
  try {
    const res = await fetch(SAMPLE_DATA);
    if (!res.ok) throw new Error(`the bundled sample could not be fetched (HTTP ${res.status})`);
    await loadDataset([SAMPLE_DATA.split("/").pop()], [await res.arrayBuffer()]);
  } catch (err) {
    show($("data-error"), err.message);
  } finally {
    button.disabled = false;
  }
}

export function setupData() {
  $("sample-data-btn").onclick = loadSampleData;
  $("files").onchange = (e) => loadPicked([...e.target.files]);
  const drop = $("drop");
  drop.ondragover = (e) => { e.preventDefault(); drop.classList.add("over"); };
  drop.ondragleave = () => drop.classList.remove("over");
  drop.ondrop = (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    loadPicked([...e.dataTransfer.files]);
  };
  drop.onkeydown = (e) => {
    if (e.key === "Enter" || e.key === " ") { e.preventDefault(); $("files").click(); }
  };
}
