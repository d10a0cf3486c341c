// The engine lives here, off the page's main thread: training loops never stall the page.
// Protocol: {id, op, args} in; {id, ok, result | error} out; plus {event, ...} pushes.
import init, { Engine } from "/pkg/dermaebm.js";

let engine = null;
let training = false;
let stopRequested = false;

async function loop(sampleEvery) {
  training = true;
  stopRequested = false;
  let first = true;
  postMessage({ event: "training", running: true });
  try {
    while (!stopRequested) {
      const stats = await engine.trainStep();
      postMessage({ event: "stats", stats });
      if (stats.iteration % sampleEvery === 0 || first) {
        first = false;
        const rgba = await engine.bufferSamples(64);
        postMessage({ event: "samples", rgba }, [rgba.buffer]);
      }
      if (stats.iteration % 25 === 0) await checkpoint("periodic");
      // Let pause/stop messages in between iterations.
      await new Promise((r) => setTimeout(r, 0));
    }
    await checkpoint("pause");
  } catch (e) {
    postMessage({ event: "error", message: String(e?.message ?? e) });
  } finally {
    training = false;
    postMessage({ event: "training", running: false, iteration: engine.iteration() });
  }
}

async function checkpoint(reason) {
  const bytes = await engine.saveWeights();
  postMessage({ event: "checkpoint", reason, iteration: engine.iteration(), bytes }, [bytes.buffer]);
}

const ops = {
  async create({ backend }) {
    await init();
    engine = await Engine.create(backend ?? "auto");
    return { backend: engine.backend(), config: engine.config() };
  },
  loadWeights: ({ bytes }) => engine.loadWeights(new Uint8Array(bytes)),
  saveWeights: () => engine.saveWeights(),
  config: () => engine.config(),
  defaultConfig: () => Engine.defaultConfig(),
  setConfig: ({ json }) => engine.setConfig(json),
  loadDataset: ({ names, files }) => engine.loadDataset(names, files.map((f) => new Uint8Array(f))),
  datasetImages: ({ split, start, count }) => engine.datasetImages(split, start, count),
  startTraining: ({ continueModel }) => engine.startTraining(!!continueModel),
  train({ sampleEvery }) {
    if (training) throw new Error("training is already running");
    loop(sampleEvery ?? 5);
    return true;
  },
  pause() {
    stopRequested = true;
    return true;
  },
  generate: ({ count, steps, recordEvery }) => engine.generate(count, steps, recordEvery),
  scoreSplit: ({ split, limit }) => engine.scoreSplit(split, limit),
  scoreNoise: ({ count }) => engine.scoreNoise(count),
  scoreRgba: ({ rgba, count }) => engine.scoreRgba(rgba, count),
  encodePng: ({ rgba, side, columns, scale }) => Engine.encodePng(rgba, side, columns, scale),
  encodeGif: ({ frames, side, columns, scale }) => Engine.encodeGif(frames, side, columns, scale),
  iteration: () => engine.iteration(),
  hasModel: () => engine?.hasModel() ?? false,
};

onmessage = async ({ data: { id, op, args } }) => {
  try {
    if (!ops[op]) throw new Error(`unknown operation ${op}`);
    if (op !== "create" && !engine) throw new Error("the engine is still starting");
    const result = await ops[op](args ?? {});
    postMessage({ id, ok: true, result });
  } catch (e) {
    postMessage({ id, ok: false, error: String(e?.message ?? e) });
  }
};
