// Generating: samples from noise (of one class, for a class-conditional model), the Langevin
// chains that led to them, and their export as PNG and animated GIF.
import { chainTiles, drawGrid } from "/pkg/grid.js";
import { $, download, show } from "./ui.js";
import { call, onRefresh, refresh, state } from "./session.js";

let last = null;

/** The class picked for generating and editing (undefined: any class, or an unconditional model). */
export function chosenClass() {
  const v = $("gen-class").value;
  return state.model?.classes > 0 && v !== "" ? Number(v) : undefined;
}

/** Generates and draws samples; `preview` overrides the form (a quick first look on load). */
export async function generate(preview = null) {
  const count = preview?.count ?? Number($("gen-count").value);
  const steps = preview?.steps ?? Number($("gen-steps").value);
  const recordEvery = Math.max(1, Math.floor(steps / 8));
  const button = $("gen-btn");
  try {
    button.disabled = true;
    button.textContent = "Generating…";
    const out = await call("generate", count, steps, recordEvery, preview ? undefined : chosenClass());
    drawGrid($("gen-grid"), out.samples, out.side, out.count, { columns: 8, scale: 4 });
    const chains = Math.min(out.count, 8);
    last = { out, tiles: chainTiles(out.chain, out.side, chains), columns: out.chain.length, chains };
    drawGrid($("chain-grid"), last.tiles, out.side, chains * last.columns, { columns: last.columns, scale: 2 });
    $("chain-grid").dataset.steps = out.chain.map((f) => f.step).join(",");
  } catch (err) {
    show($("train-error"), err.message);
  } finally {
    button.textContent = "Generate";
    refresh();
  }
}

export function setupGenerate() {
  onRefresh(() => {
    const ready = !!state.model?.ready;
    $("gen-btn").disabled = state.running || !ready;
    $("png-btn").disabled = $("gif-btn").disabled = !last;
    const classes = state.model?.classes ?? 0;
    $("gen-class-label").hidden = classes === 0;
    const select = $("gen-class");
    if (select.options.length !== classes + 1) {
      select.replaceChildren(new Option("any", ""), ...state.model.class_names.map((name, k) => new Option(`${k}: ${name}`, String(k))));
    }
  });
  $("gen-btn").onclick = () => generate();
  $("png-btn").onclick = async () => {
    const png = await call("encodePng", last.tiles, last.out.side, last.columns, 3);
    download(png, "dermaebm-chain.png", "image/png");
  };
  $("gif-btn").onclick = async () => {
    const frames = last.out.chain.map((f) => f.rgba);
    const gif = await call("encodeGif", frames, last.out.side, Math.min(8, last.out.count), 3);
    download(gif, "dermaebm-chain.gif", "image/gif");
  };
}
