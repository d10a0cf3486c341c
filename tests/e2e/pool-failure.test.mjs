// The chain pool failing for good (js/chain-pool.js), in a real Chromium: helpers that cannot
// start, helpers that fail every share, and shares asked for before any helper has started.
// pool.test.mjs shows the pool working (bit-identical results with 0/1/2 helpers, one helper
// killed and replaced); here every share the pool cannot run must go back to the engine — with
// the message the pool gives — and a run must finish with the images it has without helpers.
//
// Failures are injected from outside the code under test: the host answers the browser's
// requests for pkg/chain-worker.js (the helper's script) with a 404 or with a stand-in helper
// that speaks the helper protocol (chain-worker.js's header) but fails. What the stand-ins are
// given is told to the host before they answer (a synchronous request), and the pages wait for
// conditions, never for a fixed time: nothing here depends on how fast the machine is. The first tests drive a
// ChainPool directly (its messages, counters and script loads; no wasm); the last ones drive the
// site's engine, whose Langevin chains are the payload, and compare with a run without helpers.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { readFile } from "node:fs/promises";
import { dirname, extname, join, normalize, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const dist = join(dirname(fileURLToPath(import.meta.url)), "../../dist");
const TYPES = { ".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".json": "application/json", ".wasm": "application/wasm" };

let server, browser, base;
/** How the next load of the helper's script is answered: `(n) => source | null` (null: a 404),
 * n counting from 0; unset, the real chain-worker.js. */
let helperScript = null;
/** The status of every load of the helper's script since the hook was set. */
let loads = [];
/** The key of every share a stand-in helper was given, in order, since the hook was set. */
let announced = [];

/** How many times each share was given to a stand-in helper: `{key: tries}`. */
function attempts() {
  const out = {};
  for (const key of announced) out[key] = (out[key] ?? 0) + 1;
  return out;
}

// dist/ served by a few lines of Node rather than static-host.mjs's Python: the helper's script
// must be answered per load, and a helper worker is started from the engine's worker, whose
// requests Playwright's routing does not see (tried: page.route and context.route miss them).
before(async () => {
  server = createServer(async (req, res) => {
    const url = new URL(req.url, "http://host");
    const path = decodeURIComponent(url.pathname).replace(/^\/dermaebm\//, "");
    if (path === "announce") {
      announced.push(url.searchParams.get("share"));
      return res.writeHead(204, { "cache-control": "no-store" }).end();
    }
    if (path === "pkg/chain-worker.js" && helperScript) {
      const body = helperScript(loads.length);
      loads.push(body === null ? 404 : 200);
      res.writeHead(body === null ? 404 : 200, { "content-type": "text/javascript", "cache-control": "no-store" });
      return res.end(body ?? "not found");
    }
    const file = normalize(join(dist, path.endsWith("/") || path === "" ? `${path}index.html` : path));
    try {
      if (!file.startsWith(dist + sep)) throw new Error("outside dist/");
      const bytes = await readFile(file);
      res.writeHead(200, { "content-type": TYPES[extname(file)] ?? "application/octet-stream", "cache-control": "no-store" });
      res.end(bytes);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
  base = `http://127.0.0.1:${server.address().port}/dermaebm/`;
  browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium", args: ["--no-sandbox"] });
});

after(async () => {
  await browser?.close();
  server?.close();
});

// Stand-in helpers. Each tells the host every share it is given (`announce`: a synchronous
// request, done before it answers, so the host has counted a try before the pool hears of it).
const ANNOUNCE = `const key = (s) => s.id ?? [s.seed_hi, s.seed_lo, s.first_chain].join("/");
const announce = (s) => { const r = new XMLHttpRequest(); r.open("GET", "/dermaebm/announce?share=" + encodeURIComponent(key(s)), false); r.send(); };`;
const STUB = {
  /** Starts at once and returns the share's id as its one final value. */
  works: `${ANNOUNCE}
postMessage({ ready: true });
onmessage = ({ data }) => { announce(data); postMessage({ ok: true, result: { finals: new Float32Array([data.id]), frames: [] }, heapBytes: 4096 }); };`,
  /** Starts, then reports a trap (what a wasm panic in a real helper reports) for every share. */
  traps: `${ANNOUNCE}
postMessage({ ready: true });
onmessage = ({ data }) => { announce(data); postMessage({ ok: false, trapped: true, error: "injected trap" }); };`,
  /** Starts, then throws out of its message handler for every share (a crash: the worker's
   * error event, not a message). */
  throws: `${ANNOUNCE}
postMessage({ ready: true });
onmessage = ({ data }) => { announce(data); throw new Error("injected crash"); };`,
};

/** Answers the loads of the helper's script with `script` (see helperScript) from now on, and
 * counts afresh the loads and the shares the stand-ins announce. Returns the loads' statuses,
 * filled as they come. In the page (before any of its scripts): `settled`, `until`, and
 * `window.helperWorkers` — every helper worker started, and how many failed. */
async function routeHelper(page, script) {
  helperScript = script;
  loads = [];
  announced = [];
  await page.addInitScript(() => {
    // A share the pool neither runs nor refuses would keep a test waiting for ever: it fails
    // with this message instead (a bound on a wait that should end at once, not a timing).
    window.settled = (promise, ms = 5000) =>
      Promise.race([promise, new Promise((_, fail) => setTimeout(() => fail(new Error(`still waiting after ${ms} ms`)), ms))]);
    /** Resolves once `condition()` holds (looked at every 10 ms). */
    window.until = async (condition) => {
      while (!condition()) await new Promise((r) => setTimeout(r, 10));
    };
    window.helperWorkers = { started: 0, failed: 0 };
    const Real = window.Worker;
    window.Worker = function (url, options) {
      const worker = new Real(url, options);
      if (String(url).includes("chain-worker.js")) {
        window.helperWorkers.started += 1;
        // Registered before the pool's own handler: it runs first.
        worker.addEventListener("error", () => (window.helperWorkers.failed += 1));
      }
      return worker;
    };
  });
  return loads;
}

/** A same-origin page (no CSP, no site code) that imports the deployed pkg/chain-pool.js. */
async function poolPage(script) {
  const page = await browser.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  const loads = await routeHelper(page, script);
  await page.goto(`${base}pkg/package.json`);
  return { page, loads, errors };
}

test("a share asked for before any helper has started goes back to the engine; the helpers start after it", async () => {
  const { page, loads, errors } = await poolPage(() => STUB.works);
  const out = await page.evaluate(async () => {
    const { ChainPool } = await import("./chain-pool.js");
    const pool = new ChainPool(1);
    const early = await settled(pool.run({ id: 1 })).then(() => "ran", (e) => e.message);
    const readyAtRefusal = pool.ready;
    await until(() => pool.ready > 0);
    const later = await settled(pool.run({ id: 2 })).then((r) => Array.from(r.finals), (e) => e.message);
    return { early, readyAtRefusal, later, shares: pool.shares, peak: pool.peakHeapBytes };
  });
  await page.close();
  out.attempts = attempts();
  assert.equal(out.early, "no chain helper has started yet", "the first share is refused, not kept waiting for a helper to compile");
  assert.equal(out.readyAtRefusal, 0);
  assert.deepEqual(loads, [200], "the first share asked for started the one helper");
  assert.deepEqual(out.later, [2], "once started, the helper runs the next share");
  assert.deepEqual(out.attempts, { 2: 1 }, "the refused share never reached a helper");
  assert.equal(out.shares, 1);
  assert.equal(out.peak, 4096, "the helper's reported memory is kept");
  assert.deepEqual(errors, []);
});

test("helpers that fail to start three times: the pool gives up for good and refuses every share", async () => {
  const { page, loads, errors } = await poolPage(() => null);
  const out = await page.evaluate(async () => {
    const { ChainPool } = await import("./chain-pool.js");
    const pool = new ChainPool(1);
    const first = await settled(pool.run({ id: 1 })).then(() => "ran", (e) => e.message);
    // The third helper failed; one turn later the pool has handled it — and would have started
    // a fourth at once (a respawn is synchronous) had it not given up.
    await until(() => helperWorkers.failed === 3);
    await new Promise((r) => setTimeout(r, 0));
    const after = { ready: pool.ready, replaced: pool.replaced, started: helperWorkers.started };
    const later = await settled(pool.run({ id: 2 })).then(() => "ran", (e) => e.message);
    // A restart would be scheduled for the next turn (`run` starts helpers with setTimeout 0).
    await new Promise((r) => setTimeout(r, 0));
    return { first, after, later, replaced: pool.replaced, started: helperWorkers.started };
  });
  await page.close();
  assert.equal(out.first, "no chain helper has started yet");
  assert.deepEqual(loads, [404, 404, 404], "three tries to start the helper, then none");
  assert.deepEqual(out.after, { ready: 0, replaced: 2, started: 3 }, "three helpers started, none after the third failed");
  assert.equal(out.later, "no chain helper has started yet", "a pool that gave up refuses shares (the engine runs them)");
  assert.equal(out.replaced, 2, "a share asked for later does not start the helpers again");
  assert.equal(out.started, 3, "no helper was started for it");
  assert.deepEqual(errors, []);
});

test("a share that fails twice is refused with the helper's reason; the pool goes on replacing helpers", async () => {
  for (const [kind, reason] of [["traps", "injected trap"], ["throws", "injected crash"]]) {
    const { page, loads, errors } = await poolPage(() => STUB[kind]);
    const out = await page.evaluate(async () => {
      const { ChainPool } = await import("./chain-pool.js");
      const pool = new ChainPool(1);
      const started = () => until(() => pool.ready > 0);
      await settled(pool.run({ id: 0 })).catch(() => {});
      const messages = [];
      for (const id of [1, 2]) {
        await started(); // the last failure's replacement
        messages.push(await settled(pool.run({ id })).then(() => "ran", (e) => e.message));
      }
      await started();
      return { messages, replaced: pool.replaced, shares: pool.shares };
    });
    await page.close();
    out.attempts = attempts();
    for (const m of out.messages) assert.match(m, new RegExp(`^a chain helper failed: .*${reason}`), `${kind}: the refusal says why`);
    assert.deepEqual(out.attempts, { 1: 2, 2: 2 }, `${kind}: each share was tried twice (once more on a new helper), no more`);
    assert.equal(out.replaced, 4, `${kind}: every failed helper was replaced`);
    assert.equal(loads.length, 5, `${kind}: the first helper and four replacements loaded`);
    assert.equal(out.shares, 0);
    assert.deepEqual(errors, [], `${kind}: the helper's failure does not surface on the page`);
  }
});

test("a share waiting for a helper that can no longer start is refused, not left waiting", async () => {
  // The first helper starts and traps on its share; every replacement fails to load.
  const { page, loads, errors } = await poolPage((n) => (n === 0 ? STUB.traps : null));
  const out = await page.evaluate(async () => {
    const { ChainPool } = await import("./chain-pool.js");
    const pool = new ChainPool(1);
    await settled(pool.run({ id: 0 })).catch(() => {});
    await until(() => pool.ready > 0);
    const result = await settled(pool.run({ id: 1 })).then(() => "ran", (e) => e.message);
    return { result, ready: pool.ready };
  });
  await page.close();
  out.attempts = attempts();
  assert.deepEqual(loads, [200, 404, 404, 404], "the trapped helper's replacement was tried three times");
  assert.deepEqual(out.attempts, { 1: 1 });
  assert.match(out.result, /^no chain helper could be started to run it/, "the share went back to the engine");
  assert.equal(out.ready, 0);
  assert.deepEqual(errors, []);
});

// Through the site's engine: the shares are real Langevin chains, and whatever the pool does
// with them the run must give what it gives with no helpers at all.

/** Opens the site on the CPU backend with `helpers` chain helpers whose script `script(n)`
 * answers (see routeHelper), then as pool.test.mjs: seeded samples from noise and two tiny
 * training iterations on the bundled sample. Each engine call is given `limit` ms: a share left
 * waiting for ever stalls the engine, and the test says so instead of timing out. */
async function run(helpers, script = null, limit = 60_000) {
  const page = await browser.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  helperScript = null;
  const loads = script ? await routeHelper(page, script) : [];
  await page.goto(`${base}?backend=cpu&helpers=${helpers}`);
  await page.waitForFunction(() => document.body.dataset.ready, null, { timeout: 180_000 });
  const out = await page.evaluate(async (limit) => {
    const { call } = window.dermaebm;
    const within = (what, promise) =>
      Promise.race([promise, new Promise((_, fail) => setTimeout(() => fail(new Error(`${what} did not finish within ${limit} ms`)), limit))]);
    // Let the helpers start (or fail to: none ready after two replacements) before the draws
    // that are compared; the results must not depend on it either way.
    for (;;) {
      const pool = await call("poolStatus");
      if (pool.ready === pool.size || (pool.ready === 0 && pool.replaced >= 2)) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    try {
      const sample = await within("generate", call("generate", 6, 12, 0, undefined, "noise", { seed: 7 }));
      const bytes = new Uint8Array(await (await fetch("data/dermamnist-ham10000-28-sample.npz")).arrayBuffer());
      await call("loadDataset", ["sample.npz"], [bytes]);
      // Contrastive: training's Langevin chains go to the helpers too (the shipped denoising
      // model's walk above does; its own training has no chains).
      const config = JSON.parse(await call("defaultConfig", "contrastive"));
      await call("setConfig", JSON.stringify({ ...config, batch_size: 12, langevin_steps: 4, buffer_size: 64, seed: 5 }));
      await call("startTraining", false);
      const steps = [await within("a training step", call("trainStep")), await within("a training step", call("trainStep"))];
      return {
        samples: Array.from(sample.samples),
        stats: steps.map((s) => [s.loss, s.energy_real, s.energy_fake]),
        pool: await call("poolStatus"),
      };
    } catch (e) {
      return { stalled: e.message, pool: await call("poolStatus").catch(() => null) };
    }
  }, limit);
  await page.close();
  assert.deepEqual(errors, [], "no page errors");
  return { ...out, loads, attempts: attempts() };
}

let alone;
const withoutHelpers = async () => (alone ??= await run(0));

test("through the engine: helpers that never start leave every chain to the engine, images unchanged", async () => {
  const reference = await withoutHelpers();
  const failing = await run(1, () => null);
  assert.equal(failing.stalled, undefined, failing.stalled);
  assert.deepEqual(failing.loads, [404, 404, 404], "three tries to start the helper, then none");
  assert.deepEqual(failing.pool, { ...failing.pool, size: 1, ready: 0, replaced: 2, shares: 0 });
  assert.deepEqual(failing.samples, reference.samples, "seeded samples as without helpers");
  assert.deepEqual(failing.stats, reference.stats, "training statistics as without helpers");
});

test("through the engine: every share failing twice goes back to the engine, images unchanged", async () => {
  const reference = await withoutHelpers();
  const failing = await run(1, () => STUB.throws);
  assert.equal(failing.stalled, undefined, failing.stalled);
  const tries = Object.values(failing.attempts);
  // How many shares reach a helper depends on timing (a share asked for while the last failure's
  // replacement is still starting goes straight to the engine); at least the generate's does.
  assert.ok(tries.length >= 1, `the stand-in helpers were handed shares: ${JSON.stringify(failing.attempts)}`);
  assert.ok(tries.every((n) => n === 2), `every share was tried exactly twice: ${JSON.stringify(failing.attempts)}`);
  assert.equal(failing.pool.replaced, 2 * tries.length, "every failed helper was replaced");
  assert.equal(failing.pool.shares, 0, "no share was run by a helper");
  assert.deepEqual(failing.samples, reference.samples, "seeded samples as without helpers");
  assert.deepEqual(failing.stats, reference.stats, "training statistics as without helpers");
});

test("through the engine: a helper that traps and cannot be replaced does not stall the run", async () => {
  const reference = await withoutHelpers();
  const failing = await run(1, (n) => (n === 0 ? STUB.traps : null), 20_000);
  assert.equal(failing.stalled, undefined, `the engine waited for a share no helper could take: ${failing.stalled} (pool ${JSON.stringify(failing.pool)})`);
  assert.deepEqual(failing.loads, [200, 404, 404, 404]);
  assert.deepEqual(failing.samples, reference.samples, "seeded samples as without helpers");
  assert.deepEqual(failing.stats, reference.stats, "training statistics as without helpers");
});
