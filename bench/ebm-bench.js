// DermaEBM in the browser: seconds per CD iteration (the reference recipe unless the query
// says otherwise), Langevin throughput and sampling time, through the same worker API the site
// uses. Query: ?backend=gpu|cpu&batch=&steps=&iters=&warmup=. Figures go to #result as JSON.
import { EngineClient } from "/pkg/client.js";

const params = new URLSearchParams(location.search);
const opt = (k, d) => Number(params.get(k) ?? d);
const batch = opt("batch", 128), steps = opt("steps", 60), iters = opt("iters", 3), warmup = opt("warmup", 1);
const backend = params.get("backend") ?? "cpu";
const out = document.getElementById("result");

function report(value) {
  out.textContent = JSON.stringify(value);
  console.log(JSON.stringify(value));
}

// A synthetic shard: 1024 random 28×28 RGB images as a bare train_images.npy (timing does not
// depend on the pixels).
function syntheticShard(n = 1024) {
  const header = `{'descr': '|u1', 'fortran_order': False, 'shape': (${n}, 28, 28, 3), }`;
  const padded = header.padEnd(Math.ceil((header.length + 11) / 64) * 64 - 11, " ") + "\n";
  const bytes = new Uint8Array(10 + padded.length + n * 28 * 28 * 3);
  bytes.set([0x93, ...new TextEncoder().encode("NUMPY"), 1, 0, padded.length & 0xff, padded.length >> 8]);
  bytes.set(new TextEncoder().encode(padded), 10);
  crypto.getRandomValues(bytes.subarray(10 + padded.length, 10 + padded.length + 65536));
  return bytes;
}

async function main() {
  const started = performance.now();
  const engine = await EngineClient.start({ backend });
  const startup = (performance.now() - started) / 1000;
  await engine.call("loadDataset", ["train_images.npy"], [syntheticShard()]);
  const config = { ...JSON.parse(await engine.call("defaultConfig")), batch_size: batch, langevin_steps: steps };
  await engine.call("setConfig", JSON.stringify(config));
  await engine.call("startTraining", false);
  const times = [];
  for (let i = 0; i < warmup + iters; i++) {
    const t = performance.now();
    await engine.call("trainStep");
    if (i >= warmup) times.push((performance.now() - t) / 1000);
  }
  const sorted = [...times].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)];
  await engine.call("generate", 64, 60, 0, undefined); // warm-up
  const t = performance.now();
  await engine.call("generate", 64, 60, 0, undefined);
  const sample = (performance.now() - t) / 1000;
  report({
    impl: `dermaebm-${engine.info.backend.backend}`, adapter: engine.info.backend.adapter, batch, steps,
    engine_start_seconds: startup,
    cd_iteration_seconds: { median, min: sorted[0], all: times },
    langevin_image_steps_per_second: (batch * steps) / median,
    sample_64x60_seconds: sample,
    // Wasm memory only grows: its size is the peak of the engine's heap (GPU buffers not included).
    peak_wasm_memory_bytes: await engine.call("memoryBytes"),
  });
  engine.terminate();
}

main().catch((e) => report({ impl: `dermaebm-${backend}`, error: String(e?.message ?? e) }));
