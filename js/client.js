// The DermaEBM engine behind a Web Worker, as a promise API. This is the embedding API (see the
// README's "Embedding"): start an engine, load weights, sample, score, train, checkpoint.
//
//   import { EngineClient } from "./client.js";
//   const engine = await EngineClient.start({ backend: "auto" });
//   await engine.loadWeights("weights/dermamnist.debm");
//   const { samples, side, count } = await engine.sample({ count: 16 });
//
// Events (addEventListener): "training", "stats", "samples", "checkpoint" (the training loop's,
// from the core), "model" (the model's description after a change), "frame", "error" and "lost"
// (the engine stopped; start a new one), each with the worker's message as `event.detail`.

export class EngineClient extends EventTarget {
  #worker;
  #pending = new Map();
  #nextId = 1;
  /** Why the engine stopped, once it has; calls are then refused with this reason. */
  lost = null;
  /** What `create` reported: `{backend, config, model}`. */
  info = null;

  /** Starts a worker and an engine in it. `backend`: "auto" (a hardware GPU, else the CPU), "gpu"
   * or "cpu". `helpers`: chain helper workers for Langevin on the CPU (default: one per core
   * beyond the engine's own; 0 = the engine's thread only). */
  static async start({ backend = "auto", helpers = defaultHelpers(), workerUrl = undefined } = {}) {
    // Written out in full so bundlers (Vite, webpack) see the worker and bundle it with the wasm.
    const worker = workerUrl ? new Worker(workerUrl, { type: "module" }) : new Worker(new URL("./worker.js", import.meta.url), { type: "module" });
    const client = new EngineClient(worker);
    client.info = await client.call("create", backend, { helpers });
    return client;
  }

  constructor(worker) {
    super();
    this.#worker = worker;
    worker.onmessage = ({ data }) => {
      if (data.event) {
        if (data.event === "lost") this.lost = data.message;
        this.dispatchEvent(new CustomEvent(data.event, { detail: data }));
        return;
      }
      const pending = this.#pending.get(data.id);
      this.#pending.delete(data.id);
      if (pending) data.ok ? pending.resolve(data.result) : pending.reject(new Error(data.error));
    };
    worker.onerror = (e) => {
      e.preventDefault?.();
      this.#lose(`The engine's worker failed: ${e.message ?? "unknown error"}`);
    };
  }

  #lose(reason) {
    if (this.lost) return;
    this.lost = reason;
    for (const { reject } of this.#pending.values()) reject(new Error(reason));
    this.#pending.clear();
    this.dispatchEvent(new CustomEvent("lost", { detail: { event: "lost", message: reason } }));
  }

  /** Calls an operation by name (client.d.ts `Operation`: an Engine method or a worker op);
   * resolves with its result. */
  call(op, ...args) {
    if (this.lost) return Promise.reject(new Error(this.lost));
    return new Promise((resolve, reject) => {
      const id = this.#nextId++;
      this.#pending.set(id, { resolve, reject });
      this.#worker.postMessage({ id, op, args });
    });
  }

  /** Stops the worker; pending calls fail. */
  terminate(reason = "The engine was stopped.") {
    this.#worker.terminate();
    this.#lose(reason);
  }

  /** Loads weights or a checkpoint from a URL (relative to the page) or from bytes. */
  loadWeights(source) {
    if (typeof source === "string" || source instanceof URL) {
      return this.call("loadWeightsUrl", new URL(source, globalThis.location?.href).href);
    }
    return this.call("loadWeights", toBytes(source));
  }

  /** Same as loadWeights: a checkpoint is a weights file with the optimiser state and replay buffer added. */
  loadCheckpoint(source) {
    return this.loadWeights(source);
  }

  /** `count` samples; `classIndex` for a class-conditional model; `recordEvery` > 0 records the
   * chains. From noise (`from: "noise"`, the default), a denoising model walks `steps` noise
   * levels (default: its own) from N(μ, σ_max²), optionally along a `composition` of class
   * energies ({terms: [{class, weight}]}: a class with guidance, two classes together) with
   * `malaSteps` Metropolis-adjusted Langevin steps after each level; a recovery-likelihood model
   * walks its noise levels from N(0, I) with `steps` Langevin steps per level (default: as
   * trained), a contrastive one takes `steps` steps from uniform noise (default 256); `from: "persistent"`
   * continues a contrastive model's persistent chains (default 40 steps). Each call draws afresh;
   * `seed` (the `seed` of an earlier result) draws the same samples again. `onFrame({step,
   * level, rgba})` sees each level of the walk as soon as it is done. Resolves
   * `{samples, chain, side, count, from, steps, levels, seed}` (RGBA bytes). */
  async sample({ count = 16, steps = undefined, classIndex = undefined, recordEvery = 0, from = "noise", seed = undefined, onFrame = undefined, composition = undefined, malaSteps = undefined } = {}) {
    const listener = onFrame ? (e) => onFrame(e.detail) : null;
    if (listener) this.addEventListener("frame", listener);
    try {
      // 0 steps: the model's own default.
      return await this.call("generate", count, steps ?? 0, recordEvery, classIndex ?? undefined, from, { frames: Boolean(onFrame), seed, composition, malaSteps });
    } finally {
      if (listener) this.removeEventListener("frame", listener);
    }
  }

  /** Energies (lower = more likely) of `count` RGBA images of the model's size, concatenated. */
  score(rgba, count) {
    return this.call("scoreRgba", toBytes(rgba), count);
  }

  /** Trains on MedMNIST shards `files` = [{name, bytes}] with `config` (partial JSON object,
   * reference defaults for the rest) for `iterations` CD iterations in the engine's loop, calling
   * `onProgress(stats)` with each iteration's statistics (return false to stop early: the loop
   * stops before its next iteration once the worker hears of it). `resume` continues from the
   * loaded weights or checkpoint. Resolves with the last iteration's statistics. */
  async train({ files, config = {}, iterations = 1, onProgress = () => {}, resume = false }) {
    if (files?.length) {
      await this.call("loadDataset", files.map((f) => f.name), files.map((f) => toBytes(f.bytes)));
    }
    const current = JSON.parse(await this.call("config"));
    await this.call("setConfig", JSON.stringify({ ...current, ...config }));
    await this.call("startTraining", resume);
    let stopping = false;
    const listener = ({ detail }) => {
      if (!stopping && onProgress(detail.stats) === false) {
        stopping = true;
        this.call("pause").catch(() => {});
      }
    };
    this.addEventListener("stats", listener);
    try {
      return await this.call("train", { iterations, checkpointEvery: 0, checkpointOnStop: false, sampleEvery: 0 });
    } finally {
      this.removeEventListener("stats", listener);
    }
  }

  /** The training run as checkpoint bytes (weights, configuration, replay buffer). */
  saveCheckpoint() {
    return this.call("saveCheckpoint");
  }

  /** The current model as weights bytes. */
  saveWeights() {
    return this.call("saveWeights");
  }

  /** The current model's energy net as safetensors bytes (PyTorch's names and layout; README
   * "Weights for PyTorch" has the module that loads it). */
  saveSafetensors() {
    return this.call("saveSafetensors");
  }
}

/** One helper per core beyond the engine's own thread, at least one. */
export function defaultHelpers() {
  return Math.max(1, (globalThis.navigator?.hardwareConcurrency ?? 2) - 1);
}

function toBytes(data) {
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer || ArrayBuffer.isView(data)) return new Uint8Array(data.buffer ?? data, data.byteOffset ?? 0, data.byteLength);
  throw new TypeError("expected bytes (Uint8Array or ArrayBuffer)");
}
