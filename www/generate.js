// Generating: samples started from noise (a denoising or recovery model walks its noise levels,
// drawn level by level as they are reached; a class-conditional denoising model may follow a
// composed energy: a class with guidance, two classes together, and correction steps) or
// continued from a contrastive model's persistent chains (of one class, for a class-conditional
// model), the chains that led to them, and their export as PNG and animated GIF.
import { chainTiles, drawGrid } from "./pkg/grid.js";
import { $, download, show } from "./ui.js";
import { call, onEngineEvent, onRefresh, refresh, state } from "./session.js";

let last = null;
/** While a walk runs: where its levels are drawn as they arrive. */
let live = null;

/** The model samples by walking noise levels from noise (the engine's rule: `walks_levels`). */
const walksLevels = () => Boolean(state.model?.walks_levels);
const isDenoising = () => state.config?.recipe === "denoising";

/** What the steps field counts, by the model's recipe. */
const STEPS_LABELS = { denoising: "Noise levels", recovery: "Langevin steps per level", contrastive: "Langevin steps" };

/** The class picked for generating and editing (undefined: any class, or an unconditional model). */
export function chosenClass() {
  const v = $("gen-class").value;
  return state.model?.classes > 0 && v !== "" ? Number(v) : undefined;
}

/** Langevin steps each start needs by default, as the engine says: from noise the full chain
 * (per level for a recovery model, as trained), else a few dozen. */
const defaultSteps = (from) => state.model?.default_steps?.[from] ?? 0;

/** The start the form asks for, falling back to noise when the model has no persistent chains. */
function chosenStart() {
  const persistent = $("gen-from").value === "persistent" && (state.model?.persistent_chains ?? 0) > 0;
  return persistent ? "persistent" : "noise";
}

/** Images in the first look on load: continuing chains is cheap (40 steps), so is a walk drawn
 * level by level; 256 steps from noise are not. */
const previewCount = (from) => (from === "persistent" || walksLevels() ? 16 : 6);

/** The composed energy the form asks for (a class-conditional denoising model): the class with
 * its guidance, and a second class beside it; undefined for the plain class. */
function chosenComposition() {
  const k = chosenClass();
  if (!isDenoising() || k === undefined) return undefined;
  const w = Number($("gen-guidance").value);
  const also = $("gen-also").value;
  const terms = [{ class: k, weight: w }];
  if (also !== "" && Number(also) !== k) terms.push({ class: Number(also), weight: w });
  return terms.length === 1 && w === 1 ? undefined : { terms };
}

function describe(out) {
  const seed = ` Seed ${out.seed} (enter it, or open the page with ?seed=${out.seed}, to draw these again).`;
  if (out.from === "persistent") return `Continued from the model's persistent chains, ${out.steps} Langevin steps.${seed}`;
  if (out.levels > 0 && isDenoising()) {
    return `From noise down ${out.levels} noise levels (${out.levels} → 0) by Heun's method, ${out.steps} gradient evaluations.${seed}`;
  }
  if (out.levels > 0) {
    return `From N(0, I) through ${out.levels} noise levels (${out.levels} → 0), ${out.steps / out.levels} Langevin steps each, ${out.steps} in all.${seed}`;
  }
  return `From uniform noise, ${out.steps} Langevin steps.${seed}`;
}

/** The seed to draw with: the form's, else the page address's `?seed=` for the first look;
 * none (a fresh draw every time) when both are empty. */
function chosenSeed(preview) {
  const typed = $("gen-seed").value.trim();
  const fromAddress = preview ? new URLSearchParams(location.search).get("seed") : null;
  const raw = typed !== "" ? typed : fromAddress;
  return raw === null || raw === "" ? undefined : Number(raw);
}

/** Generates and draws samples; `preview` (a quick first look on load) overrides the form and
 * gives way to any other call. Resolves whether samples were drawn. */
export async function generate(preview = false) {
  const from = chosenStart();
  const count = preview ? previewCount(from) : Number($("gen-count").value);
  const steps = preview ? defaultSteps(from) : Number($("gen-steps").value);
  const recordEvery = Math.max(1, Math.floor(steps / 8));
  const button = $("gen-btn");
  try {
    button.disabled = true;
    button.textContent = "Generating…";
    live = walksLevels() && from === "noise" ? { count } : null;
    const seed = chosenSeed(preview);
    const composition = preview ? undefined : chosenComposition();
    const malaSteps = preview || !isDenoising() ? undefined : Number($("gen-mala").value);
    const classIndex = preview || composition ? undefined : chosenClass();
    // The first look gives way to whatever the visitor asks of the engine meanwhile.
    const out = await call("generate", count, steps, recordEvery, classIndex, from, { frames: Boolean(live), seed, composition, malaSteps, givesWay: preview });
    if (out.stopped) {
      $("gen-kind").textContent = "The first look stopped to make way for what you asked: Generate draws samples.";
      $("gen-kind").dataset.from = "";
      return false;
    }
    drawGrid($("gen-grid"), out.samples, out.side, out.count, { columns: 8, scale: 4 });
    $("gen-grid").dataset.count = String(out.count);
    $("gen-grid").dataset.level = "0";
    $("gen-kind").textContent = describe(out);
    $("gen-kind").dataset.from = out.from;
    $("gen-kind").dataset.seed = String(out.seed);
    $("gen-grid").dataset.class = out.class === null ? "" : String(out.class);
    $("gen-grid").dataset.composition = composition ? JSON.stringify(composition) : "";
    show($("gen-error"), "");
    const chains = Math.min(out.count, 8);
    last = { out, tiles: chainTiles(out.chain, out.side, chains), columns: out.chain.length, chains };
    drawGrid($("chain-grid"), last.tiles, out.side, chains * last.columns, { columns: last.columns, scale: 2 });
    $("chain-grid").dataset.steps = out.chain.map((f) => f.step).join(",");
    $("chain-grid").dataset.levels = out.chain.map((f) => f.level ?? "").join(",");
    const levels = out.chain.filter((f) => f.level !== undefined).map((f) => f.level);
    $("chain-hint").textContent = levels.length
      ? `One row per sample; columns are the noise levels ${levels[0]} → ${levels[levels.length - 1]} (noise on the left, the sample on the right).`
      : "One row per sample; columns are the chain every few Langevin steps.";
    return true;
  } catch (err) {
    show($("gen-error"), err.message);
    return false;
  } finally {
    live = null;
    button.textContent = "Generate";
    refresh();
  }
}

export function setupGenerate() {
  // A walk's levels, drawn as they are reached: the first one is on screen long before the
  // samples are done.
  onEngineEvent("frame", (f) => {
    if (!live) return;
    drawGrid($("gen-grid"), f.rgba, state.side, live.count, { columns: 8, scale: 4 });
    $("gen-grid").dataset.level = String(f.level ?? "");
    $("gen-kind").textContent = f.level === undefined ? "" : `Walking down the noise levels: level ${f.level}…`;
    if ($("model-status").dataset.firstLevelMs === undefined && f.level !== undefined && f.step > 0) {
      $("model-status").dataset.firstLevelMs = String(Math.round(performance.now()));
    }
  });
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
      $("gen-steps").value = String(defaultSteps(want));
    }
    // What "steps" counts depends on the recipe; follow a new model's default unless the visitor typed one.
    const stepsLabel = STEPS_LABELS[state.config?.recipe ?? "contrastive"];
    if ($("gen-steps-label").firstChild.textContent.trim() !== stepsLabel) {
      $("gen-steps-label").firstChild.textContent = `${stepsLabel} `;
      $("gen-steps").value = String(defaultSteps(select.value));
    }
    const classes = state.model?.classes ?? 0;
    $("gen-class-label").hidden = classes === 0;
    // Composed energies and the corrector are a denoising model's.
    $("gen-guidance-label").hidden = $("gen-also-label").hidden = classes === 0 || !isDenoising();
    $("gen-mala-label").hidden = !isDenoising();
    for (const [select, first] of [[$("gen-class"), "any"], [$("gen-also"), "none"]]) {
      if (select.options.length !== classes + 1) {
        // Only the net's own classes can be sampled; class_names may also cover a probe's.
        select.replaceChildren(new Option(first, ""), ...state.model.class_names.slice(0, classes).map((name, k) => new Option(`${k}: ${name}`, String(k))));
      }
    }
  });
  $("gen-btn").onclick = () => generate();
  $("gen-from").onchange = () => {
    $("gen-from").dataset.auto = "false";
    $("gen-steps").value = String(defaultSteps($("gen-from").value));
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
