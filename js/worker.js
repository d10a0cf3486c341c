// Runs a DermaEBM engine in a Web Worker, so long loops (training, sampling) never stall a page.
// Protocol: {id, op, args: [...]} in → {id, ok, result | error} out, plus {event, ...} pushes:
//   training {running, iteration}, stats {stats}, samples {rgba, count, side, columns, levels},
//   checkpoint {reason, iteration, bytes}, frame {step, level, rgba} (generate with frames),
//   error {message}, lost {message}.
// Any Engine method, instance or static, is an op (called with `args`); the ops below add what
// a worker needs, and translate the training ops to the run `startTraining` returns.
import init, { Engine } from "./dermaebm.js";
import { ChainPool } from "./chain-pool.js";

let engine = null;
/** The current run (Engine.startTraining's `Training`); the engine discards it when its
 * configuration, weights or data change, and it then says so. */
let training = null;
let lostReason = null;
let loop = null;
/** Helper workers that take shares of the Langevin chains on the CPU backend (null: none). */
let pool = null;

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
  if (e instanceof WebAssembly.RuntimeError || /unreachable|RuntimeError|device (was )?lost/i.test(String(e))) {
    lostReason = `The engine stopped after an internal error (${e?.message ?? e}).`;
    engine = null;
    post({ event: "lost", message: lostReason });
  }
}

async function checkpoint(reason) {
  const run = currentTraining();
  const bytes = await run.saveCheckpoint();
  post({ event: "checkpoint", reason, iteration: run.iteration(), bytes });
}

async function runLoop({ sampleEvery = 5, checkpointEvery = 25, iterations = Infinity } = {}) {
  loop = { stop: false };
  post({ event: "training", running: true, iteration: engine.iteration() });
  let done = 0;
  try {
    while (!loop.stop && done < iterations) {
      const stats = await currentTraining().step();
      done += 1;
      post({ event: "stats", stats });
      if (done === 1 || stats.iteration % sampleEvery === 0) post({ event: "samples", ...(await currentTraining().liveSamples(64)) });
      if (checkpointEvery > 0 && stats.iteration % checkpointEvery === 0 && !stats.rolled_back) await checkpoint("periodic");
      // Let pause messages in between iterations.
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    await checkpoint(loop.stop ? "pause" : "finished");
  } catch (e) {
    post({ event: "error", message: String(e?.message ?? e) });
    checkLost(e);
  } finally {
    loop = null;
    post({ event: "training", running: false, iteration: engine ? engine.iteration() : null });
  }
}

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
    if (loop) throw new Error("pause training before changing the helpers");
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
   * `frames: true` each level of a recovery walk is pushed as a `frame` event {step, level,
   * rgba} while it runs. */
  generate(count, steps, recordEvery, classIndex, from, { frames = false, seed = undefined } = {}) {
    const onFrame = frames ? (frame) => post({ event: "frame", ...frame }) : undefined;
    return engine.generate(count, steps, recordEvery, classIndex, from, seed, onFrame);
  },
  trainStep: () => currentTraining().step(),
  bufferSamples: (count) => currentTraining().bufferSamples(count),
  liveSamples: (count) => currentTraining().liveSamples(count),
  saveCheckpoint: () => currentTraining().saveCheckpoint(),
  trainLoop(options) {
    if (loop) throw new Error("training is already running");
    runLoop(options);
    return true;
  },
  pause() {
    if (loop) loop.stop = true;
    return loop !== null;
  },
  isTraining: () => loop !== null,
};

onmessage = async ({ data: { id, op, args = [] } }) => {
  try {
    let result;
    if (ops[op]) {
      if (op !== "create" && !engine) throw new Error(lostReason ?? "the engine is not started yet");
      result = await ops[op](...args);
    } else if (op === "free" || op === "create" || op.startsWith("_")) {
      throw new Error(`unknown operation ${op}`);
    } else if (typeof Engine[op] === "function") {
      // Static methods need no engine, only the module.
      await init();
      result = Engine[op](...args);
    } else if (!engine) {
      throw new Error(lostReason ?? "the engine is not started yet");
    } else if (typeof engine[op] === "function") {
      result = await engine[op](...args);
    } else {
      throw new Error(`unknown operation ${op}`);
    }
    post({ id, ok: true, result });
  } catch (e) {
    postMessage({ id, ok: false, error: String(e?.message ?? e) });
    checkLost(e);
  }
};
