// The training loop in the engine (the core's RunLoop behind Training.run), through the
// worker and the client as an embedder uses them: its events in order with the checkpoint
// policy's cadence and kept copies, `client.train` driving the same loop, a `model` event after
// a change (before the answer), and the worker's closed list of operations.
import { test } from "node:test";
import assert from "node:assert/strict";
import { siteForSuite } from "./helpers.mjs";

const site = siteForSuite();

test("the engine's loop: events in order, checkpoints and kept copies by its policy, train() and the closed operations", async () => {
  const page = await site.browser.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(`${site.base}embed.html`);
  const out = await page.evaluate(async () => {
    const { EngineClient } = await import("./pkg/client.js");
    const engine = await EngineClient.start({ backend: "cpu", helpers: 0 });
    const seen = [];
    for (const name of ["training", "stats", "samples", "checkpoint", "model"]) {
      // A model event by its batch size, the loop's by their iteration.
      engine.addEventListener(name, ({ detail: d }) => seen.push([name, name === "model" ? d.config.batch_size : d.iteration ?? d.stats?.iteration, d.reason, d.keep]));
    }
    const bytes = new Uint8Array(await (await fetch("data/dermamnist-ham10000-28-sample.npz")).arrayBuffer());
    await engine.call("loadDataset", ["sample.npz"], [bytes]);
    const config = JSON.parse(await engine.call("defaultConfig", "contrastive"));
    seen.length = 0;
    await engine.call("setConfig", JSON.stringify({ ...config, width: 8, batch_size: 8, langevin_steps: 3, buffer_size: 64, seed: 2 }));
    const modelFirst = seen.slice();
    seen.length = 0;
    await engine.call("startTraining", false);
    const ended = new Promise((ok) => engine.addEventListener("training", ({ detail }) => detail.running || ok()));
    await engine.call("trainLoop", { iterations: 4, checkpointEvery: 2, keepEvery: 4, keptAt: 0, sampleEvery: 3 });
    await ended;
    const loop = seen.slice();
    seen.length = 0;
    const progress = [];
    const last = await engine.train({ iterations: 2, onProgress: (s) => progress.push(s.iteration), resume: true });
    const refused = [];
    for (const op of ["free", "setChainPool", "__proto__", "constructor"]) {
      refused.push(await engine.call(op).then(() => "accepted", (e) => e.message));
    }
    engine.terminate();
    return { modelFirst, loop, train: seen.filter(([name]) => name !== "model"), progress, last: last.iteration, refused };
  });
  await page.close();
  assert.deepEqual(errors, [], "no page errors");
  assert.deepEqual(out.modelFirst, [["model", 8, undefined, undefined]], "the new model's description came before the answer");
  assert.deepEqual(out.loop.filter(([name]) => name !== "model"), [
    ["training", 0, undefined, undefined],
    ["stats", 1, undefined, undefined], ["samples", undefined, undefined, undefined],
    ["stats", 2, undefined, undefined], ["checkpoint", 2, "periodic", false],
    ["stats", 3, undefined, undefined], ["samples", undefined, undefined, undefined],
    // No "finished" checkpoint of iteration 4: the periodic one of the same state was just
    // written (the core's `RunLoop` writes a state once).
    ["stats", 4, undefined, undefined], ["checkpoint", 4, "periodic", true],
    ["training", 4, undefined, undefined],
  ]);
  assert.deepEqual(out.loop.at(-2)[0], "model", "the stopped run's model comes just before the stop");
  assert.deepEqual(out.train, [["training", 4, undefined, undefined], ["stats", 5, undefined, undefined], ["stats", 6, undefined, undefined], ["training", 6, undefined, undefined]]);
  assert.deepEqual(out.progress, [5, 6]);
  assert.equal(out.last, 6);
  for (const [i, message] of out.refused.entries()) assert.match(message, /^unknown operation/, `operation ${i} refused`);
});
