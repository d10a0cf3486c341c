// The page: starts the engine (in a Web Worker), loads the shipped weights, shows samples, and
// wires the panels. The main thread only draws; all model work happens in the worker.
import { setupCharts } from "./charts.js";
import { setupData } from "./data.js";
import { setupEdit } from "./edit.js";
import { setupEnergy } from "./energy.js";
import { generate, setupGenerate } from "./generate.js";
import { setupStorage } from "./storage.js";
import { fillForStart, offerSavedRun, reportBackend, setupTraining } from "./train.js";
import { $, show } from "./ui.js";
import { call, refresh, startEngine, state } from "./session.js";

window.dermaebm = { state, call }; // for tests and the curious

/** The shipped models, the default first: the best by FID from the draw it shows
 * (weights/README.md). `?model=NAME` opens another; each is one link away from the others. */
const MODELS = {
  denoising: {
    weights: "weights/denoising.debm",
    figures: "weights/denoising-fid.json",
    link: "the denoising-score-matching model (from noise in a few dozen gradient steps, the best by FID)",
  },
  contrastive: {
    weights: "weights/dermamnist.debm",
    figures: "weights/fid.json",
    link: "the contrastive model (continues its persistent chains)",
  },
  recovery: {
    weights: "weights/recovery.debm",
    figures: "weights/recovery-fid.json",
    link: "the recovery-likelihood model (samples from noise, level by level)",
  },
};
const DEFAULT_MODEL = "denoising";
const modelName = () => {
  const asked = new URLSearchParams(location.search).get("model");
  return Object.hasOwn(MODELS, asked ?? "") ? asked : DEFAULT_MODEL;
};

/** Links to the other shipped models, keeping the rest of the address; none for a model this
 * build does not ship (a deploy with only some weights). */
async function otherModelLinks() {
  const links = document.createElement("span");
  links.id = "other-models";
  for (const [name, model] of Object.entries(MODELS)) {
    if (name === modelName()) continue;
    const shipped = await fetch(model.weights, { method: "HEAD" }).then((r) => r.ok, () => false);
    if (!shipped) continue;
    const params = new URLSearchParams(location.search);
    if (name === DEFAULT_MODEL) params.delete("model");
    else params.set("model", name);
    const a = document.createElement("a");
    a.dataset.model = name;
    a.href = `?${params}`;
    a.textContent = `Try ${model.link}.`;
    links.append(a, " ");
  }
  return links;
}

/** What a visitor should know about the shipped model, from its measured figures. */
async function describeShippedModel(info) {
  const c = state.config;
  const conditional = state.model.classes ? `, class-conditional over the ${state.model.classes} DermaMNIST classes` : "";
  const kinds = {
    recovery: `, recovery likelihood over ${c.recovery?.levels} noise levels${conditional}`,
    denoising: `, an energy for every noise level trained by denoising score matching, drawn from noise in ${c.denoising?.levels} levels${conditional}`,
  };
  const kind = kinds[c.recipe] ?? conditional;
  let text = `Shipped model: an energy-based model${kind}`;
  try {
    const res = await fetch(MODELS[modelName()].figures);
    if (!res.ok) throw new Error(res.statusText);
    const q = await res.json();
    const updates = c.recipe === "contrastive" || !c.recipe ? "contrastive-divergence updates" : "updates";
    text += `, trained for ${q.updates.toLocaleString("en")} ${updates} on DermaMNIST (HAM10000). `;
    text += `FID against the val split (${q.samples} images; lower is better, real images score ${q.real_train_fid}): `;
    text += q.persistent
      ? `${q.persistent.fid.toFixed(0)} continuing its persistent chains, ${q.noise.fid.toFixed(0)} from noise.`
      : `${q.noise.fid.toFixed(0)} from noise.`;
  } catch {
    text += ` (${info.iteration} training iterations).`;
  }
  return text;
}

/** Loads the default (or asked-for) shipped model and starts its first look, which runs on
 * after the page is ready and gives way to anything the visitor starts meanwhile. */
async function loadShippedWeights() {
  try {
    const res = await fetch(MODELS[modelName()].weights);
    if (!res.ok) {
      $("model-status").textContent = "No shipped weights in this build: load a dataset and train, or load a weights file.";
      return;
    }
    const info = await call("loadWeights", new Uint8Array(await res.arrayBuffer()));
    performance.mark("weights-loaded");
    await fillForStart();
    $("model-status").textContent = await describeShippedModel(info);
    const timing = document.createElement("span");
    $("model-status").append(" ", timing, await otherModelLinks());
    firstLook(timing);
  } catch (err) {
    $("model-status").textContent = `The shipped weights could not be loaded: ${err.message}`;
  }
}

/** A first look within seconds even on the CPU, with the better start (the persistent chains,
 * by FID) and its default chain length; `timing` says when it was done. */
async function firstLook(timing) {
  if (!(await generate(true))) return;
  // performance.now() counts from the navigation: this is page load → first samples.
  const ms = performance.now();
  timing.textContent = `First samples ${(ms / 1000).toFixed(1)} s after opening the page. `;
  // Last: the tests and probe-start wait for this attribute.
  $("model-status").dataset.firstSampleMs = String(Math.round(ms));
}

async function main() {
  setupCharts();
  setupData();
  setupTraining();
  setupGenerate();
  setupEnergy();
  setupEdit();
  setupStorage();
  const backend = new URLSearchParams(location.search).get("backend") ?? "auto";
  await startEngine(backend);
  performance.mark("engine-started"); // start-up phases, for the benchmarks
  reportBackend();
  await fillForStart();
  await loadShippedWeights();
  await offerSavedRun();
  refresh();
  document.body.dataset.ready = "true";
}

main().catch((err) => {
  show($("backend-note"), `The engine failed to start: ${err.message}`);
  document.body.dataset.ready = "error";
});
