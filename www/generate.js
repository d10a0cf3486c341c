// Generating: samples continued from the model's persistent chains or started from noise (of
// one class, for a class-conditional model), the Langevin chains that led to them, and their
// export as PNG and animated GIF.
import { chainTiles, drawGrid } from "./pkg/grid.js";
import { $, download, show } from "./ui.js";
import { call, onRefresh, refresh, state } from "./session.js";

let last = null;

/** The class picked for generating and editing (undefined: any class, or an unconditional model). */
export function chosenClass() {
  const v = $("gen-class").value;
  return state.model?.classes > 0 && v !== "" ? Number(v) : undefined;
}

/** Langevin steps each start needs by default: from noise the full chain, else a few dozen. */
const DEFAULT_STEPS = { persistent: 40, noise: 256 };

/** The start the form asks for, falling back to noise when the model has no persistent chains. */
function chosenStart() {
  const persistent = $("gen-from").value === "persistent" && (state.model?.persistent_chains ?? 0) > 0;
  return persistent ? "persistent" : "noise";
}

/** Images in the first look on load: continuing chains is cheap (40 steps), noise is not (256). */
const PREVIEW_COUNT = { persistent: 16, noise: 6 };

/** Generates and draws samples; `preview` (a quick first look on load) overrides the form. */
export async function generate(preview = false) {
  const from = chosenStart();
  const count = preview ? PREVIEW_COUNT[from] : Number($("gen-count").value);
  const steps = preview ? DEFAULT_STEPS[from] : Number($("gen-steps").value);
  const recordEvery = Math.max(1, Math.floor(steps / 8));
  const button = $("gen-btn");
  try {
    button.disabled = true;
    button.textContent = "Generating…";
    const out = await call("generate", count, steps, recordEvery, preview ? undefined : chosenClass(), from);
    drawGrid($("gen-grid"), out.samples, out.side, out.count, { columns: 8, scale: 4 });
    $("gen-grid").dataset.count = String(out.count);
    $("gen-kind").textContent =
      out.from === "persistent" ? `Continued from the model's persistent chains, ${steps} Langevin steps.` : `From uniform noise, ${steps} Langevin steps.`;
    $("gen-kind").dataset.from = out.from;
    show($("gen-error"), "");
    const chains = Math.min(out.count, 8);
    last = { out, tiles: chainTiles(out.chain, out.side, chains), columns: out.chain.length, chains };
    drawGrid($("chain-grid"), last.tiles, out.side, chains * last.columns, { columns: last.columns, scale: 2 });
    $("chain-grid").dataset.steps = out.chain.map((f) => f.step).join(",");
  } catch (err) {
    show($("gen-error"), err.message);
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
    // Without persistent chains the form starts from noise; once a model brings chains, it goes
    // back to them if that switch was ours, not the visitor's.
    const hasChains = state.model?.persistent_chains > 0;
    const select = $("gen-from");
    select.querySelector('option[value="persistent"]').disabled = !hasChains;
    const want = hasChains && select.dataset.auto === "true" ? "persistent" : !hasChains && select.value === "persistent" ? "noise" : null;
    if (want) {
      select.value = want;
      select.dataset.auto = String(want === "noise");
      $("gen-steps").value = String(DEFAULT_STEPS[want]);
    }
    const classes = state.model?.classes ?? 0;
    $("gen-class-label").hidden = classes === 0;
    const classSelect = $("gen-class");
    if (classSelect.options.length !== classes + 1) {
      // Only the net's own classes can be sampled; class_names may also cover a probe's.
      classSelect.replaceChildren(new Option("any", ""), ...state.model.class_names.slice(0, classes).map((name, k) => new Option(`${k}: ${name}`, String(k))));
    }
  });
  $("gen-btn").onclick = () => generate();
  $("gen-from").onchange = () => {
    $("gen-from").dataset.auto = "false";
    $("gen-steps").value = String(DEFAULT_STEPS[$("gen-from").value]);
  };
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
