// <ebm-sampler>: a custom element that shows samples of a DermaEBM model. One script tag:
//
//   <script type="module" src="pkg/ebm-sampler.js"></script>   (or: import "dermaebm/ebm-sampler")
//   <ebm-sampler weights="weights/dermamnist.debm" count="16"></ebm-sampler>
//
// Attributes: weights (URL, required), count (16), from (auto | persistent | noise; auto:
// continue the model's persistent chains when the weights carry them — a contrastive model's;
// else start from noise, which a recovery-likelihood model, the shipped one, walks down its
// noise levels), steps (the model's default: per level as trained for a recovery model; 40
// continuing persistent chains and 256 from noise for a contrastive one), class-index (for
// class-conditional weights), columns (8), scale (3), backend (auto | gpu | cpu), seed (a whole
// number to draw the same samples every time; omitted, each element and visit draws afresh).
// Its state is in the `state` attribute (loading, sampling, ready, error); it fires
// "ebm-sampled" (detail: {count, side, seconds}) and "ebm-error" (detail: {message}).
// `regenerate()` draws new samples. All elements of a page share one engine in one worker.
import { EngineClient } from "./client.js";
import { drawGrid } from "./grid.js";

const engines = new Map();
let queue = Promise.resolve();
// The shared engine does one thing at a time; elements take turns.
const inTurn = (task) => (queue = queue.then(task, task));

// One engine per backend, started on first use and again if it failed to start or was lost.
async function engineFor(backend) {
  const current = await (engines.get(backend) ?? Promise.resolve(null)).catch(() => null);
  if (current && !current.lost) return current;
  const starting = EngineClient.start({ backend });
  engines.set(backend, starting);
  starting.catch(() => engines.delete(backend));
  return starting;
}

let styles = null;
function sheet() {
  if (!styles) {
    styles = new CSSStyleSheet();
    styles.replaceSync(":host{display:inline-block}canvas{image-rendering:pixelated;display:block;max-width:100%}p{font:12px system-ui,sans-serif;margin:4px 0;color:#555}");
  }
  return styles;
}

const number = (value, fallback, min, max) => {
  const n = Number.parseInt(value ?? "", 10);
  return Number.isFinite(n) ? Math.min(max, Math.max(min, n)) : fallback;
};

export class EbmSampler extends HTMLElement {
  static observedAttributes = ["weights", "count", "steps", "from", "class-index", "columns", "scale", "backend", "seed"];
  #canvas;
  #status;
  #scheduled = false;

  constructor() {
    super();
    const root = this.attachShadow({ mode: "open" });
    // A constructed stylesheet: pages with a strict Content-Security-Policy refuse inline <style>.
    root.adoptedStyleSheets = [sheet()];
    root.innerHTML = `<canvas part="grid" role="img" aria-label="generated samples" width="1" height="1"></canvas><p part="status" aria-live="polite"></p>`;
    this.#canvas = root.querySelector("canvas");
    this.#status = root.querySelector("p");
  }

  connectedCallback() {
    this.#schedule();
  }

  attributeChangedCallback() {
    if (this.isConnected) this.#schedule();
  }

  /** Draws a new set of samples. */
  regenerate() {
    return inTurn(() => this.#render());
  }

  #schedule() {
    if (this.#scheduled) return;
    this.#scheduled = true;
    queueMicrotask(() => {
      this.#scheduled = false;
      this.regenerate();
    });
  }

  #setState(state, text) {
    this.setAttribute("state", state);
    this.#status.textContent = text;
  }

  async #render() {
    const weights = this.getAttribute("weights");
    if (!weights) return this.#fail("set the weights attribute to the URL of a .debm file");
    const count = number(this.getAttribute("count"), 16, 1, 256);
    const fromAttr = this.getAttribute("from") ?? "auto";
    if (!["auto", "persistent", "noise"].includes(fromAttr)) return this.#fail(`from must be auto, persistent or noise (got "${fromAttr}")`);
    const columns = number(this.getAttribute("columns"), 8, 1, 64);
    const scale = number(this.getAttribute("scale"), 3, 1, 16);
    const classAttr = this.getAttribute("class-index");
    const classIndex = classAttr === null || classAttr === "" ? undefined : number(classAttr, 0, 0, 255);
    const seedAttr = this.getAttribute("seed");
    const seed = seedAttr === null || seedAttr === "" ? undefined : Number(seedAttr);
    if (seed !== undefined && !(Number.isInteger(seed) && seed >= 0 && seed <= 4294967295)) return this.#fail(`seed must be a whole number from 0 to 4294967295 (got "${seedAttr}")`);
    try {
      this.#setState("loading", "Loading the model…");
      const engine = await engineFor(this.getAttribute("backend") ?? "auto");
      const loaded = await engine.loadWeights(new URL(weights, document.baseURI));
      const from = fromAttr === "auto" ? (loaded.has_buffer ? "persistent" : "noise") : fromAttr;
      const stepsAttr = this.getAttribute("steps");
      const steps = stepsAttr === null ? undefined : number(stepsAttr, 0, 1, 2000);
      this.#setState("sampling", `Sampling ${count} images…`);
      const started = performance.now();
      // A recovery walk is drawn level by level as it goes.
      const onFrame = (f) => {
        if (f.level === undefined || f.step === 0) return;
        drawGrid(this.#canvas, f.rgba, loaded.config.image_size, count, { columns, scale });
        this.#status.textContent = `Sampling ${count} images: noise level ${f.level}…`;
      };
      const out = await engine.sample({ count, steps, classIndex, from, seed, onFrame });
      drawGrid(this.#canvas, out.samples, out.side, out.count, { columns, scale });
      const seconds = (performance.now() - started) / 1000;
      const kind =
        from === "persistent"
          ? `continued from the model's persistent chains, ${out.steps} steps`
          : out.levels > 0
            ? `from noise through ${out.levels} noise levels, ${out.steps} steps`
            : `from noise, ${out.steps} steps`;
      this.setAttribute("from-used", from);
      this.setAttribute("seed-used", String(out.seed));
      this.#setState("ready", `${out.count} samples ${kind}, ${seconds.toFixed(1)} s (${engine.info.backend.backend}), seed ${out.seed}`);
      this.dispatchEvent(new CustomEvent("ebm-sampled", { detail: { count: out.count, side: out.side, seconds, seed: out.seed } }));
    } catch (e) {
      this.#fail(e.message ?? String(e));
    }
  }

  #fail(message) {
    this.#setState("error", message);
    this.dispatchEvent(new CustomEvent("ebm-error", { detail: { message } }));
  }
}

if (!customElements.get("ebm-sampler")) customElements.define("ebm-sampler", EbmSampler);
