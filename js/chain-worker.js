// One chain helper: its own instance of the package's wasm, running shares of Langevin chains
// for the engine's pool (chain-pool.js) with ChainHelper.runShare. Protocol: a share in →
// {ok, result: {finals, frames}} | {ok: false, trapped, error} out; {ready} once started. A trap
// leaves the instance unusable, so the pool replaces a helper that reports one.
import init, { ChainHelper, Engine } from "./dermaebm.js";

let helper = null;

init().then(
  () => {
    helper = new ChainHelper();
    postMessage({ ready: true });
  },
  (e) => postMessage({ ok: false, trapped: true, error: `the chain helper could not start: ${e?.message ?? e}` }),
);

onmessage = ({ data: share }) => {
  try {
    if (!helper) throw new Error("the chain helper is not started yet");
    const result = helper.runShare(share);
    // The instance's memory comes along: wasm memory only grows, so this is its peak.
    postMessage({ ok: true, result, heapBytes: Engine.memoryBytes() }, [result.finals.buffer, ...result.frames.map((f) => f.values.buffer)]);
  } catch (e) {
    const trapped = e instanceof WebAssembly.RuntimeError || /unreachable|RuntimeError/.test(String(e));
    postMessage({ ok: false, trapped, error: String(e?.message ?? e) });
  }
};
