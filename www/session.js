// What the page knows, and the engine (in a worker) it talks to. The engine can be replaced
// (restart after a crash or device loss); event listeners registered here follow it. The
// model's description comes as the worker's `model` event after every change (before the
// answer to the call that made it), so nothing here asks for it.
import { EngineClient, defaultHelpers } from "./pkg/client.js";

export const state = {
  engine: null,
  backend: null,
  config: null,
  side: 28,
  /** `modelInfo()` of the engine: {ready, iteration, classes, class_names, classifier, config, persistent_chains}. */
  model: null,
  hasData: false,
  /** The uploaded shards ({names, buffers}), kept to reload into a restarted engine. */
  dataset: null,
  summary: null,
  running: false,
  trainingSetUp: false,
  /** Another tab of the site holds the training lock (storage.js): no run may start here. */
  otherTabTrains: false,
  /** Chain helper workers asked for (Langevin on the CPU): `?helpers=N`, else one per core
   * beyond the engine's; `helpersRunning` is what the engine started (0 on WebGPU). */
  helpers: helpersFromAddress() ?? defaultHelpers(),
  helpersRunning: 0,
};

function helpersFromAddress() {
  const n = Number.parseInt(new URLSearchParams(globalThis.location?.search ?? "").get("helpers") ?? "", 10);
  return Number.isFinite(n) && n >= 0 ? Math.min(n, 64) : null;
}

const listeners = [];
const refreshers = [];

export function onEngineEvent(name, handler) {
  listeners.push([name, handler]);
  state.engine?.addEventListener(name, (e) => handler(e.detail));
}

/** Registers a function that updates controls from `state`; `refresh()` runs them all. */
export function onRefresh(fn) {
  refreshers.push(fn);
}

export function refresh() {
  for (const fn of refreshers) fn();
}

export async function startEngine(backend) {
  state.engine?.terminate("replaced by a new engine");
  const engine = await EngineClient.start({ backend, helpers: state.helpers });
  for (const [name, handler] of listeners) engine.addEventListener(name, (e) => handler(e.detail));
  state.engine = engine;
  state.backend = engine.info.backend;
  state.helpersRunning = engine.info.helpers ?? 0;
  state.running = false;
  state.trainingSetUp = false;
  showModel(engine.info.model);
  return engine;
}

export const call = (op, ...args) => {
  if (!state.engine) return Promise.reject(new Error("the engine is still starting"));
  return state.engine.call(op, ...args);
};

/** The split to show and evaluate on: val when the data has it (held out from training), else
 * the first one there is. The one rule for the data, energy and classification panels. */
export function evaluationSplit(summary = state.summary) {
  return summary?.splits.find((s) => s.split === "val") ? "val" : summary?.splits[0]?.split ?? "train";
}

/** Takes the engine's model description (`modelInfo`) into `state`. */
function showModel({ event, ...model }) {
  state.model = model;
  state.config = model.config;
  state.side = state.config.image_size;
  refresh();
}
onEngineEvent("model", showModel);
