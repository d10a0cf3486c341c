// Runs a DermaEBM engine in a Web Worker, so long loops (training, sampling) never stall a page.
// Protocol: {id, op, args: [...]} in → {id, ok, result | error} out, plus {event, ...} pushes:
//   training {running, iteration}, stats {stats}, samples {rgba, count, side, columns, levels},
//   checkpoint {reason, iteration, bytes, keep} (the training loop's events, from the core's
//   RunLoop, forwarded as they come), model {...modelInfo} (after every call that changes the
//   model, configuration or data, before its answer, and when a training loop stops),
//   frame {step, level, rgba} (generate with frames), error {message}, lost {message}.
// A generate call with `givesWay` (the page's first look) gives way to the next call that needs
// the engine: its walk stops at the next level, it resolves {stopped: true}, then that call runs.
// The operations are a closed list (WORKER_OPS, ENGINE_METHODS, ENGINE_STATICS; client.d.ts
// `Operation` names the same, checked by tests/native/js_types.rs): anything else is refused.
import init, { Engine } from "./dermaebm.js";
import { ChainPool } from "./chain-pool.js";

let engine = null;
/** The current run (Engine.startTraining's `Training`); the engine discards it when its
 * configuration, weights or data change, and it then says so. */
let training = null;
let lostReason = null;
/** A training loop is running (Training.run has not ended). */
let running = false;
/** Helper workers that take shares of the Langevin chains on the CPU backend (null: none). */
let pool = null;
/** The generate call that gives way to any other (`{stop, done}`), while it runs. */
let givingWay = null;

/** Starts `helpers` chain helpers when the engine runs on the CPU (one device does a GPU's
 * work, so WebGPU keeps its single path); 0 keeps every chain on this thread. */
function startPool(helpers) {
  pool?.terminate();
  pool = null;
  engine.setChainPool(null, 0);
  if (helpers > 0 && engine.backend().backend === "cpu") {
    pool = new ChainPool(helpers);
    engine.setChainPool((share) => pool.run(share), helpers);
  }
  return pool?.size ?? 0;
}

function currentTraining() {
  if (!training) throw new Error("training is not set up; call startTraining first");
  return training;
}

const post = (message) => postMessage(message, transferables(message));

function transferables(value, out = []) {
  if (value instanceof Uint8Array || value instanceof Float32Array) {
    if (value.byteOffset === 0 && value.byteLength === value.buffer.byteLength) out.push(value.buffer);
  } else if (Array.isArray(value)) {
    for (const v of value) transferables(v, out);
  } else if (value && typeof value === "object") {
    for (const v of Object.values(value)) transferables(v, out);
  }
  return out;
}

// A trap inside WebAssembly (a Rust panic, a lost GPU device) leaves the instance unusable:
// say so once, and refuse further calls with the reason instead of failing in odd ways.
function checkLost(e) {
  if (lostReason) return;
  if (e instanceof WebAssembly.RuntimeError || /unreachable|RuntimeError|device (was )?lost/i.test(String(e))) {
    lostReason = `The engine stopped after an internal error (${e?.message ?? e}).`;
    engine = null;
    post({ event: "lost", message: lostReason });
  }
}

/** Runs the current training's loop in the core (Training.run), forwarding each event; the
 * worker only notes when it ends. Resolves with the last iteration's statistics; a failed loop
 * is reported (error, then the stop) and rejects. */
async function runLoop(options) {
  const run = currentTraining();
  running = true;
  try {
    return await run.run(options, (event) => {
      // The model's description first, so that a page sees the stopped run's model with the stop.
      if (event.event === "training" && !event.running) postModel();
      post(event);
    });
  } catch (e) {
    post({ event: "error", message: String(e?.message ?? e) });
    checkLost(e);
    postModel();
    post({ event: "training", running: false, iteration: engine ? engine.iteration() : null });
    throw e;
  } finally {
    running = false;
  }
}

/** Pushes the engine's model description (the page keeps it instead of asking after each change). */
function postModel() {
  try {
    if (engine) post({ event: "model", ...engine.modelInfo() });
  } catch {
    // An engine that cannot describe itself has said why elsewhere (error, lost).
  }
}

/** Operations that change the model, the configuration or the data: a `model` event follows
 * each. Not startTraining: the page shows the model a run started from until the run stops, as
 * it always has, and the stop pushes the run's. */
const CHANGES_MODEL = new Set(["loadWeights", "loadWeightsUrl", "setConfig", "loadDataset"]);

// The closed list of operations (client.d.ts `Operation` names the same, tests/native/js_types.rs
// compares them): the worker's own, the Engine methods a page may call, and static functions.
const WORKER_OPS = [
  "create", "setHelpers", "poolStatus", "killNextShare", "loadWeightsUrl", "startTraining", "generate", "trainStep", "bufferSamples",
  "liveSamples", "saveCheckpoint", "trainLoop", "train", "pause", "isTraining",
];
/** Engine methods, called with the message's arguments. */
const ENGINE_METHODS = [
  "backend", "config", "setConfig", "modelInfo", "iteration", "loadWeights", "saveWeights", "loadDataset", "datasetImages",
  "datasetLabels", "inpaint", "denoise", "addNoise", "scoreRgba", "scoreSplit", "scoreNoise", "classifyRgba", "classifySplit",
  "saveSafetensors",
];
/** Static Engine functions: they need the module, not an engine. */
const ENGINE_STATICS = ["defaultConfig", "memoryBytes", "maskPreset", "auroc", "encodePng", "encodeGif"];

const ops = {
  async create(backend = "auto", { helpers = 0 } = {}) {
    await init();
    engine = await Engine.create(backend);
    training = null;
    lostReason = null;
    const started = startPool(helpers);
    return { backend: engine.backend(), config: engine.config(), model: engine.modelInfo(), helpers: started };
  },
  /** Changes the number of chain helpers (0 = this thread only). */
  setHelpers(helpers) {
    if (running) throw new Error("pause training before changing the helpers");
    return startPool(Math.max(0, Math.floor(helpers)));
  },
  /** `{size, ready, replaced, shares, peakHeapBytes}` of the chain pool (all 0 without one). */
  poolStatus: () => ({
    size: pool?.size ?? 0,
    ready: pool?.ready ?? 0,
    replaced: pool?.replaced ?? 0,
    shares: pool?.shares ?? 0,
    peakHeapBytes: pool?.peakHeapBytes ?? 0,
  }),
  /** Fault drill: the chain helper that takes the next share dies with it (false: no pool). */
  killNextShare: () => (pool ? (pool.killNextShare(), true) : false),
  async loadWeightsUrl(url) {
    const response = await fetch(url);
    if (!response.ok) throw new Error(`${url}: HTTP ${response.status} ${response.statusText}`);
    return engine.loadWeights(new Uint8Array(await response.arrayBuffer()));
  },
  startTraining(continueModel = false) {
    const run = engine.startTraining(continueModel);
    training?.free();
    training = run;
    return true;
  },
  /** Engine.generate; `seed` reproduces an earlier draw (omitted: a fresh one); with
   * `frames: true` each level of a walk is pushed as a `frame` event {step, level, rgba} while
   * it runs; `composition` ({terms: [{class, weight}]}) and `malaSteps` for a denoising model. */
  generate(count, steps, recordEvery, classIndex, from, { frames = false, seed = undefined, composition = undefined, malaSteps = undefined, givesWay = false } = {}) {
    const walk = givesWay ? { stop: false } : null;
    // A walk that gives way lets the event loop run after each level (a call that needs the
    // engine is heard there), then goes on or answers false: stop at this level.
    const onFrame =
      frames || walk
        ? (frame) => {
            if (frames) post({ event: "frame", ...frame });
            return walk ? new Promise((resolve) => setTimeout(() => resolve(!walk.stop), 0)) : true;
          }
        : undefined;
    const composed = composition ? JSON.stringify(composition) : undefined;
    const run = engine.generate(count, steps, recordEvery, classIndex, from, seed, onFrame, composed, malaSteps);
    if (!walk) return run;
    const settled = () => {
      if (givingWay === walk) givingWay = null;
    };
    walk.done = run.then(settled, settled);
    givingWay = walk;
    return run.catch((e) => {
      if (walk.stop) return { stopped: true };
      throw e;
    });
  },
  trainStep: () => currentTraining().step(),
  bufferSamples: (count) => currentTraining().bufferSamples(count),
  liveSamples: (count) => currentTraining().liveSamples(count),
  saveCheckpoint: () => currentTraining().saveCheckpoint(),
  /** Starts the training loop in the background (its events tell how it goes); `options` as
   * Training.run's: {iterations, checkpointEvery, keepEvery, keptAt, checkpointOnStop, sampleEvery}. */
  trainLoop(options) {
    if (running) throw new Error("training is already running");
    // Its end, failed or not, is told by events.
    runLoop(options).catch(() => {});
    return true;
  },
  /** Runs the training loop to its end (`options.iterations`, or a pause); resolves with the last
   * iteration's statistics. */
  train(options) {
    if (running) throw new Error("training is already running");
    return runLoop(options);
  },
  pause() {
    if (running) training?.pause();
    return running;
  },
  isTraining: () => running,
};
if (Object.keys(ops).join() !== WORKER_OPS.join()) throw new Error("worker.js: `ops` and WORKER_OPS differ");
for (const name of ENGINE_METHODS) ops[name] = (...args) => engine[name](...args);
for (const name of ENGINE_STATICS) ops[name] = (...args) => Engine[name](...args);
const STATIC = new Set(ENGINE_STATICS);
/** Operations that leave a walk that gives way running: they only read the engine's state or
 * do not touch the engine at all. */
const LEAVE_WALK = new Set(["modelInfo", "backend", "config", "iteration", "poolStatus", "isTraining", "pause", ...ENGINE_STATICS]);

onmessage = async ({ data: { id, op, args = [] } }) => {
  try {
    if (!Object.hasOwn(ops, op)) throw new Error(`unknown operation ${op}`);
    if (STATIC.has(op)) {
      await init();
    } else if (op !== "create" && !engine) {
      throw new Error(lostReason ?? "the engine is not started yet");
    }
    if (givingWay && !LEAVE_WALK.has(op)) {
      givingWay.stop = true;
      await givingWay.done;
    }
    const result = await ops[op](...args);
    if (CHANGES_MODEL.has(op)) postModel();
    post({ id, ok: true, result });
  } catch (e) {
    postMessage({ id, ok: false, error: String(e?.message ?? e) });
    checkLost(e);
  }
};
