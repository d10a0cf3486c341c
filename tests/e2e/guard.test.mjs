// The divergence guard through the browser engine and the site (README "Reliability",
// RELIABILITY.md "Divergence guard"): a diverging iteration is rolled back and the page says
// so, no checkpoint is written for it, and when the guard stops the run (diverged again and
// again, or drifted) the page points at the kept earlier checkpoints — or, before any is kept,
// says what else to do; resuming clears what was said about the stopped run.
//
// No test build and no injected fault: the guard's bounds are part of the model's
// configuration (src/config.rs: guard_energy_bound, guard_drift_bound), which a weights file
// carries, so a healthy run is made to trip them by tightening them to 1e-6 — every real
// iteration's energies are beyond that. The strict file is made by the engine itself
// (saveWeights after setConfig), then loaded the way a visitor loads one ("Load weights"), and
// training goes on from it with the page's own Start button.
import { test } from "node:test";
import assert from "node:assert/strict";
import { siteForSuite } from "./helpers.mjs";

const site = siteForSuite();

/** Loads `bytes` as a weights file through the page's file input, as a visitor would. */
async function loadWeightsFile(page, name, bytes) {
  await page.setInputFiles("#weights-file", { name, mimeType: "application/octet-stream", buffer: bytes });
  await page.waitForFunction((name) => document.getElementById("model-status").textContent.startsWith(`Loaded ${name}`), name, { timeout: 60_000 });
}

/** What the site's store says the current checkpoint is (what a reload would resume from). */
const storedCheckpoint = (page) =>
  page.evaluate(async () => {
    const info = await (await import("./store.js")).checkpointInfo();
    return info && { iteration: info.iteration, savedAt: info.savedAt };
  });

/** Presses `button` (Start) and waits for the run to stop with an error; returns the engine
 * events of the run (stats, checkpoint, error), in order. */
async function startUntilStopped(page, button = "#start-btn") {
  await page.evaluate(() => {
    if (!window.guardEvents) {
      for (const name of ["stats", "checkpoint", "error"]) {
        window.dermaebm.state.engine.addEventListener(name, ({ detail }) => window.guardEvents.push({ name, iteration: detail.iteration ?? detail.stats?.iteration, stats: detail.stats, message: detail.message }));
      }
    }
    window.guardEvents = [];
  });
  await page.click(button);
  await page.waitForFunction(() => window.guardEvents.some((e) => e.name === "error"), null, { timeout: 120_000 });
  // The page has handled the same event (its listener was registered first).
  await page.waitForFunction(() => !window.dermaebm.state.running, null, { timeout: 60_000 });
  return page.evaluate(() => window.guardEvents);
}

/** A page of the site on the CPU backend with no chain helpers (the cheapest engine; the guard
 * is the core's either way), trained on the bundled sample with tiny settings and a checkpoint
 * every iteration until `until(page)` resolves, then paused; returns the page, its errors and
 * the stored checkpoint. */
async function trainedPage(context, until) {
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(`${site.base}?backend=cpu&helpers=0`);
  await page.waitForFunction(() => document.body.dataset.ready, null, { timeout: 180_000 });
  assert.equal(await page.getAttribute("body", "data-ready"), "true", await page.textContent("#backend-note"));
  await page.click("#sample-data-btn");
  await page.waitForFunction(() => document.querySelector("td[data-split=train]")?.textContent === "1000", null, { timeout: 60_000 });
  await page.selectOption("#recipe", "recovery");
  for (const [name, value] of Object.entries({ batch_size: 8, "recovery.steps": 3, seed: 3 })) await page.fill(`#settings [name="${name}"]`, String(value));
  await page.fill("#ckpt-every", "1");
  await page.click("#start-btn");
  await until(page);
  await page.click("#pause-btn");
  await page.waitForFunction(() => /pause/.test(document.getElementById("ckpt").textContent), null, { timeout: 120_000 });
  await page.waitForFunction(() => !window.dermaebm.state.running, null, { timeout: 60_000 });
  return { page, errors, stored: await storedCheckpoint(page) };
}

/** The page's model as weights files whose guard no real iteration can pass: one that rolls back
 * every iteration (and stops after 3 rollbacks in a row), one that stops on drift. */
const strictFiles = (page) =>
  page.evaluate(async () => {
    const { call } = window.dermaebm;
    await call("loadWeights", await call("saveWeights"));
    const config = JSON.parse(await call("config"));
    const strict = async (guard) => {
      await call("setConfig", JSON.stringify({ ...config, ...guard }));
      const bytes = await call("saveWeights");
      return btoa(Array.from(bytes, (b) => String.fromCharCode(b)).join(""));
    };
    return {
      diverge: await strict({ guard_energy_bound: 1e-6, guard_max_rollbacks: 3 }),
      drift: await strict({ guard_drift_bound: 1e-6 }),
    };
  });

test("the guard through the site: rollbacks shown, none checkpointed, and a stopped run points at the kept checkpoints", async () => {
  const context = await site.browser.newContext();
  // A healthy run: by iteration 10 a checkpoint is kept under "Go back to" (the hint is about those).
  const { page, errors, stored } = await trainedPage(context, (page) => page.waitForSelector(".kept-btn[data-iteration='10']", { timeout: 240_000 }));
  const n = stored.iteration;
  assert.ok(n >= 10, `paused after iteration 10: ${n}`);
  const files = await strictFiles(page);

  // Rolled back: every iteration goes past the bound, is undone, and the page says so.
  await loadWeightsFile(page, "strict-energy-bound.debm", Buffer.from(files.diverge, "base64"));
  assert.equal(await page.isChecked("#continue-model"), true, "a loaded file is what Start continues");
  let events = await startUntilStopped(page);
  const rolled = events.filter((e) => e.name === "stats");
  assert.equal(rolled.length, 2, `two rollbacks reported, the third stops the run: ${JSON.stringify(events)}`);
  for (const e of rolled) assert.deepEqual([e.stats.rolled_back, e.iteration], [true, n], "each iteration rolled back to the loaded one");
  assert.ok(Math.abs(rolled[1].stats.lr - rolled[0].stats.lr / 2) <= 1e-6 * rolled[0].stats.lr, `the learning rate halved at the rollback: ${rolled.map((e) => e.stats.lr)}`);
  const notice = await page.textContent("#train-notice");
  console.log(`rolled back at ${n}: ${notice}`);
  assert.ok(await page.isVisible("#train-notice"), "the rollback notice is shown");
  assert.match(notice, new RegExp(`^Training diverged; rolled back to iteration ${n} and lowered the learning rate to \\d\\.\\d\\de-\\d+\\.$`));
  assert.deepEqual(events.filter((e) => e.name === "checkpoint"), [], "no checkpoint of a rolled-back iteration (one was due every iteration)");
  assert.deepEqual(await storedCheckpoint(page), stored, "the stored checkpoint is still the healthy one from before");
  const diverged = await page.textContent("#train-error");
  assert.match(diverged, /^training diverged 3 times in a row even after lowering the learning rate/);
  assert.match(diverged, /Earlier checkpoints are kept: press one under “Go back to” \(below\)/, "the hint points at the kept checkpoints");
  assert.ok(await page.isVisible(".kept-btn[data-iteration='10']"), "and they are there");
  assert.equal(await page.textContent("#iter"), String(n), "the page still shows the last healthy iteration");

  // Resume: what was said about the stopped run (its rollbacks, its error) goes as the run starts
  // again. This one diverges again at once and, the rollbacks in a row being counted on, stops
  // there, saying so again.
  const atResume = page.evaluate(
    () =>
      new Promise((ok) =>
        window.dermaebm.state.engine.addEventListener("training", ({ detail }) => {
          if (detail.running) ok({ notice: document.getElementById("train-notice").hidden, error: document.getElementById("train-error").hidden });
        }),
      ),
  );
  events = await startUntilStopped(page, "#resume-btn");
  assert.deepEqual(await atResume, { notice: true, error: true }, "the rollback notice and the error are cleared when training resumes");
  assert.deepEqual(events.map((e) => e.name), ["error"], "the resumed run stopped at its first diverging iteration");
  assert.equal(await page.isHidden("#train-notice"), true, "no rollback is shown for the resumed run: none happened");
  assert.match(await page.textContent("#train-error"), /^training diverged 4 times in a row/);
  assert.deepEqual(await storedCheckpoint(page), stored, "the stored checkpoint is still the healthy one from before");

  // Drifted: the first iteration's energies are beyond the drift bound; the run stops at once.
  await loadWeightsFile(page, "strict-drift-bound.debm", Buffer.from(files.drift, "base64"));
  events = await startUntilStopped(page);
  assert.deepEqual(events.map((e) => e.name), ["error"], "stopped before any statistics or checkpoint of the drifted iteration");
  const drifted = await page.textContent("#train-error");
  console.log(`stopped: ${drifted}`);
  assert.match(drifted, new RegExp(`^training drifted by iteration ${n + 1}: .*above guard_drift_bound 0\\.000001`));
  assert.match(drifted, /Earlier checkpoints are kept: press one under “Go back to” \(below\)/, "the hint points at the kept checkpoints");
  assert.deepEqual(await storedCheckpoint(page), stored, "the stored checkpoint is still the healthy one from before");

  assert.deepEqual(errors, [], "no page errors");
  await context.close();
});

test("before any checkpoint is kept, a stopped run still says what to do", async () => {
  const context = await site.browser.newContext();
  const { page, errors, stored } = await trainedPage(context, (page) => page.waitForFunction(() => Number(document.getElementById("iter").textContent) >= 2, null, { timeout: 120_000 }));
  assert.ok(stored.iteration < 10, `paused before the first kept copy: ${stored.iteration}`);
  assert.equal(await page.textContent("#kept"), "none yet");
  const files = await strictFiles(page);
  for (const [name, bytes, stop] of [["strict-drift-bound.debm", files.drift, /^training drifted by iteration/], ["strict-energy-bound.debm", files.diverge, /^training diverged 3 times in a row/]]) {
    await loadWeightsFile(page, name, Buffer.from(bytes, "base64"));
    await startUntilStopped(page);
    const message = await page.textContent("#train-error");
    console.log(`no copy kept yet: ${message}`);
    assert.match(message, stop);
    assert.match(
      message,
      / No earlier checkpoint is kept yet \(a copy is kept every 10 updates\): lower the learning rate and press Start with “Continue from the current model” ticked to train on from the model as it is, or start a new network\.$/,
      `${name}: the hint says what to do without a kept copy`,
    );
  }
  assert.deepEqual(errors, [], "no page errors");
  await context.close();
});
