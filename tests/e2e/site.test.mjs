// End-to-end tests of the deployable site (dist/, built by scripts/build-site.sh) served under a
// sub-path (/dermaebm/) by a plain static file server that is not this project's code (Python's
// http.server: no special headers, its own MIME types), in a real Chromium (Debian's, driven by
// playwright-core) with WebGPU enabled (SwiftShader here, which the page rightly skips for the
// CPU backend). Screenshots land in tests/e2e/artifacts/.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { CSP, pagePolicy } from "../../scripts/serve.mjs";
import { startStaticHost } from "./static-host.mjs";
import { waitFirstLook } from "./helpers.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "../..");
const artifacts = join(here, "artifacts");
// The bundled sample (data/README.md): the suite needs nothing outside the repository.
const realData = join(root, "data/dermamnist-ham10000-28-sample.npz");
mkdirSync(artifacts, { recursive: true });

let host, browser, origin, base;
const foreignRequests = [];
const pageErrors = [];
const failedRequests = [];

before(async () => {
  host = await startStaticHost(join(root, "dist"), "dermaebm");
  ({ origin, base } = host);
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: ["--enable-unsafe-webgpu", "--enable-unsafe-swiftshader", "--no-sandbox", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"],
  });
});

after(async () => {
  await browser?.close();
  host?.close();
});

async function newContext() {
  return browser.newContext({ viewport: { width: 1280, height: 800 }, acceptDownloads: true });
}

let watchedRequests = 0;

function watch(page) {
  page.on("request", (r) => {
    watchedRequests++;
    const url = r.url();
    if (!url.startsWith(origin) && !url.startsWith("data:") && !url.startsWith("blob:")) foreignRequests.push(url);
  });
  // An aborted load (a page closed, a worker terminated) is not a broken link; a 404 is.
  page.on("requestfailed", (r) => r.failure()?.errorText !== "net::ERR_ABORTED" && failedRequests.push(`${r.url()}: ${r.failure()?.errorText}`));
  page.on("response", (r) => r.status() >= 400 && failedRequests.push(`${r.url()}: HTTP ${r.status()}`));
  page.on("pageerror", (e) => pageErrors.push(e.message));
}

/** Opens the site and waits until its start-up (engine, shipped weights, preview) is done. */
async function openPage(context, query = "") {
  const page = await context.newPage();
  watch(page);
  await page.goto(`${base}${query}`);
  await page.waitForFunction(() => document.body.dataset.ready, null, { timeout: 180_000 });
  assert.equal(await page.getAttribute("body", "data-ready"), "true", await page.textContent("#backend-note"));
  return page;
}

async function uploadRealData(page) {
  await page.setInputFiles("#files", realData);
  await page.waitForSelector("td[data-split=train]", { timeout: 120_000 });
}

/** Small settings for the recipe the form shows (a new network: denoising score matching, the
 * default; pick `recipe` first to train another). */
async function setTinySettings(page, extra = {}, recipe = undefined) {
  if (recipe) await page.selectOption("#recipe", recipe);
  const current = await page.inputValue("#recipe");
  const tinyOf = {
    denoising: { batch_size: 8, "denoising.blocks": 1, seed: 3 },
    recovery: { batch_size: 8, "recovery.steps": 3, seed: 3 },
    contrastive: { batch_size: 8, langevin_steps: 3, buffer_size: 64, seed: 3 },
  };
  const tiny = { ...tinyOf[current], ...extra };
  for (const [name, value] of Object.entries(tiny)) await page.fill(`#settings [name="${name}"]`, String(value));
}

/** The shipped model's recipe, as the page loaded it. */
const shippedRecipe = (page) => page.evaluate(() => window.dermaebm.state.config.recipe ?? "contrastive");

const iteration = (page) => page.evaluate(() => Number(document.getElementById("iter").textContent));
const waitIteration = (page, atLeast, timeout = 240_000) =>
  page.waitForFunction((n) => Number(document.getElementById("iter").textContent) >= n, atLeast, { timeout });
const savedIteration = async (page) => Number((await page.textContent("#ckpt")).match(/iteration (\d+)/)?.[1] ?? -1);

/** A denoising model's first look: its Heun walk from noise, drawn level by level. */
async function checkDenoisingFirstLook(page) {
  assert.match(await page.textContent("#model-status"), /Shipped model: an energy-based model, an energy for every noise level trained by denoising score matching, drawn from noise in \d+ levels.*FID against the val split/);
  assert.equal(await page.getAttribute("#gen-kind", "data-from"), "noise");
  assert.match(await page.textContent("#gen-kind"), /From noise down \d+ noise levels .* by Heun's method, \d+ gradient evaluations\. Seed \d+/);
  assert.match(await page.getAttribute("#chain-grid", "data-levels"), /^(\d+),.*,0$/, "the chain view shows the walk, level by level");
  const level = Number(await page.getAttribute("#model-status", "data-first-level-ms"));
  console.log(`first level on screen ${level} ms after opening the page`);
  assert.ok(level > 0, "a level was drawn before the samples were done");
}

/** A recovery model's first look: a walk down its noise levels from N(0, I), drawn level by level. */
async function checkRecoveryFirstLook(page) {
  assert.match(await page.textContent("#model-status"), /Shipped model: an energy-based model, recovery likelihood over \d+ noise levels.*FID against the val split/);
  assert.equal(await page.getAttribute("#gen-kind", "data-from"), "noise");
  assert.match(await page.textContent("#gen-kind"), /From N\(0, I\) through \d+ noise levels .* Seed \d+/);
  assert.match(await page.getAttribute("#chain-grid", "data-levels"), /^(\d+),.*,0$/, "the chain view shows the walk, level by level");
  const level = Number(await page.getAttribute("#model-status", "data-first-level-ms"));
  console.log(`first level on screen ${level} ms after opening the page`);
  assert.ok(level > 0, "a level was drawn before the samples were done");
}

test("the page reports its backend and shows samples from the shipped weights", async () => {
  const context = await newContext();
  const page = await openPage(context);
  const backend = await page.textContent("#backend");
  assert.match(backend, /Backend: (CPU|WebGPU)/);
  if (backend.includes("CPU")) assert.ok(await page.isVisible("#backend-note"), "the CPU fallback is explained");
  if (existsSync(join(root, "weights/denoising.debm"))) {
    await waitFirstLook(page);
    assert.ok((await page.evaluate(() => document.getElementById("gen-grid").width)) > 1, "a sample grid is drawn");
    assert.match(await page.textContent("#model-status"), /Shipped model: an energy-based model.*FID against the val split.*First samples [\d.]+ s after opening the page/);
    assert.doesNotMatch(await page.textContent("#model-status"), /\.\.\/|\.npz/, "no file paths of the training machine");
    // The default is the best by FID from the draw it shows: the denoising model, from noise.
    assert.equal(await shippedRecipe(page), "denoising");
    await checkDenoisingFirstLook(page);
    // Its residual net for other tools: tensors named by the module's structure.
    {
      const [download] = await Promise.all([page.waitForEvent("download"), page.click("#save-st-btn")]);
      const bytes = readFileSync(await download.path());
      const header = JSON.parse(bytes.subarray(8, 8 + Number(bytes.readBigUInt64LE(0))).toString("utf8"));
      assert.deepEqual(header["stem.weight"].shape.slice(1), [3, 3, 3], "a 3×3 stem over RGB");
      assert.ok(header["readout.weight"] && header.fourier_frequencies && header.__metadata__.recipe === "denoising");
    }
    const ms = Number(await page.getAttribute("#model-status", "data-first-sample-ms"));
    console.log(`first samples ${ms} ms after opening the page`);
    // Every visit draws afresh: a second page shows other samples (its own seed).
    const second = await openPage(context);
    await waitFirstLook(second);
    assert.notEqual(await second.getAttribute("#gen-kind", "data-seed"), await page.getAttribute("#gen-kind", "data-seed"), "each visit draws its own samples");
    await second.close();
    // The other shipped models are one link away each, with their own figures and first look.
    if (existsSync(join(root, "weights/dermamnist.debm"))) {
      await page.click("#other-models a[data-model=contrastive]");
      await waitFirstLook(page);
      assert.match(page.url(), /[?&]model=contrastive/);
      assert.equal(await shippedRecipe(page), "contrastive");
      // Its first look continues the persistent chains the weights carry (better by FID).
      assert.equal(await page.getAttribute("#gen-kind", "data-from"), "persistent");
      assert.match(await page.textContent("#gen-kind"), /Continued from the model's persistent chains, 40 Langevin steps/);
      // The energy net for other tools: a safetensors file with PyTorch's parameter names.
      const [download] = await Promise.all([page.waitForEvent("download"), page.click("#save-st-btn")]);
      assert.match(download.suggestedFilename(), /^dermaebm-\d+\.safetensors$/);
      const bytes = readFileSync(await download.path());
      const headerLength = Number(bytes.readBigUInt64LE(0));
      const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString("utf8"));
      assert.deepEqual(header["conv1.weight"].dtype, "F32");
      assert.ok(header["fc2.bias"] && header.__metadata__.config, "every layer and the configuration are in it");
    }
    if (existsSync(join(root, "weights/recovery.debm"))) {
      await page.click("#other-models a[data-model=recovery]");
      await waitFirstLook(page);
      assert.match(page.url(), /[?&]model=recovery/);
      assert.equal(await shippedRecipe(page), "recovery");
      await checkRecoveryFirstLook(page);
      await page.click("#other-models a[data-model=denoising]");
      await waitFirstLook(page);
      assert.doesNotMatch(page.url(), /[?&]model=/, "back to the default model, at the plain address");
      assert.equal(await shippedRecipe(page), "denoising");
    }
  } else {
    assert.match(await page.textContent("#model-status"), /No shipped weights/);
  }
  await page.screenshot({ path: join(artifacts, "01-start.png"), fullPage: true });
  // Narrow window: still usable (no horizontal scrolling of the page).
  await page.setViewportSize({ width: 420, height: 800 });
  // The charts follow the window on its resize event; give them a moment.
  const sideways = () => document.documentElement.scrollWidth - document.documentElement.clientWidth;
  await page.waitForFunction(() => document.documentElement.scrollWidth - document.documentElement.clientWidth <= 1, null, { timeout: 5000 }).catch(() => {});
  const overflow = await page.evaluate(sideways);
  assert.ok(overflow <= 1, `the page scrolls sideways by ${overflow}px at 420px`);
  await page.screenshot({ path: join(artifacts, "01-narrow.png"), fullPage: true });
  await context.close();
});

test("uploading DermaMNIST shows its splits; a malformed file and foreign weights show their errors", async () => {
  const context = await newContext();
  const page = await openPage(context);
  // The page is ready before the first look is done; a walk gives way to the upload (it
  // stops at its next level) instead of holding it up.
  const walks = existsSync(join(root, "weights/denoising.debm"));
  if (walks) await page.waitForSelector("#model-status[data-first-level-ms]", { timeout: 60_000 });
  await uploadRealData(page);
  if (walks) {
    await page.waitForFunction(() => /stopped to make way/.test(document.getElementById("gen-kind").textContent), null, { timeout: 30_000 });
    assert.equal(await page.getAttribute("#model-status", "data-first-sample-ms"), null, "the first look gave way before its end");
  }
  assert.equal(await page.textContent("td[data-split=train]"), "1000");
  assert.equal(await page.textContent("td[data-split=val]"), "200");
  await page.waitForFunction(() => document.getElementById("real-grid").width > 1);
  await page.screenshot({ path: join(artifacts, "02-dataset.png"), fullPage: true });

  // Energies of val images, noise and samples: histogram and AUROC (computed by the core).
  await page.waitForFunction(() => !document.getElementById("score-btn").disabled, null, { timeout: 60_000 });
  await page.click("#score-btn");
  await page.waitForFunction(() => /AUROC real vs noise: [\d.]+/.test(document.getElementById("auroc").textContent), null, { timeout: 180_000 });
  const auroc = Number((await page.textContent("#auroc")).match(/AUROC real vs noise: ([\d.]+)/)[1]);
  if (existsSync(join(root, "weights/denoising.debm"))) assert.ok(auroc >= 0.9, `the shipped weights tell val images from noise (AUROC ${auroc})`);
  assert.ok(await page.evaluate(() => document.querySelector("#chart-hist canvas") !== null), "a histogram is drawn");

  await page.setInputFiles("#files", { name: "broken.npz", mimeType: "application/octet-stream", buffer: Buffer.from("this is not a zip file") });
  await page.waitForSelector("#data-error:not([hidden])");
  assert.match(await page.textContent("#data-error"), /broken\.npz: not a \.npz/);
  await page.screenshot({ path: join(artifacts, "03-bad-file.png"), fullPage: true });

  await page.setInputFiles("#weights-file", { name: "other-model.bin", mimeType: "application/octet-stream", buffer: Buffer.from("not weights at all") });
  await page.waitForSelector("#train-error:not([hidden])");
  assert.match(await page.textContent("#train-error"), /other-model\.bin: not a weights file/);
  await context.close();
});

test("two clicks: the bundled DermaMNIST sample, then Start, give live training charts", async () => {
  const context = await newContext();
  // The shipped recovery model open (learning rate 2e-4): a new network is still the default
  // recipe's, with that recipe's own settings.
  const page = await openPage(context, "?model=recovery");
  assert.match(await page.textContent("#data-panel"), /HAM10000.*CC BY-NC 4\.0/s, "licence and citations beside the button");
  await page.click("#sample-data-btn");
  await page.waitForFunction(() => document.querySelector("td[data-split=train]")?.textContent === "1000", null, { timeout: 60_000 });
  assert.equal(await page.textContent("td[data-split=val]"), "200");
  assert.match(await page.textContent("#start-what"), /a new network with the denoising-score-matching recipe/, "Start says what it will do");
  assert.equal(await page.inputValue("#recipe"), "denoising");
  assert.equal(await page.inputValue('#settings [name="lr"]'), "0.0005", "a new network starts from its recipe's learning rate, not the shipped model's");
  assert.equal(await page.getAttribute("#chart-loss", "data-points"), "0", "no points before training");
  await page.click("#start-btn"); // the denoising recipe, as it comes
  await waitIteration(page, 1);
  await page.waitForFunction(() => Number(document.getElementById("chart-loss").dataset.points) >= 1, null, { timeout: 60_000 });
  await page.click("#pause-btn");
  await context.close();
});

test("training runs, charts advance, pause → reload → resume continues", async () => {
  const context = await newContext();
  let page = await openPage(context);
  await uploadRealData(page);
  await page.fill("#settings [name=batch_size]", "0");
  await page.click("#start-btn");
  await page.waitForSelector("#settings-error:not([hidden])");
  assert.match(await page.textContent("#settings-error"), /batch_size/);
  await setTinySettings(page, {}, "recovery");
  await page.check("#augment-real");
  await page.click("#start-btn");
  await waitIteration(page, 3);
  assert.ok(Number(await page.getAttribute("#chart-loss", "data-points")) >= 3, "the loss chart holds every iteration");
  const speed = Number((await page.textContent("#speed")).match(/^(\d+\.\d+) it\/s/)?.[1]);
  assert.ok(speed > 0, `a positive speed, counted from the run's first iteration: ${await page.textContent("#speed")}`);
  await page.waitForFunction(() => document.getElementById("buffer-grid").width > 1);
  // A recovery run's live view walks from noise down every level.
  assert.equal(await page.getAttribute("#buffer-grid", "data-levels"), "6,5,4,3,2,1,0");
  await page.click("#pause-btn");
  await page.waitForFunction(() => /pause/.test(document.getElementById("ckpt").textContent), null, { timeout: 120_000 });
  const saved = await savedIteration(page);
  assert.ok(saved >= 3);
  await page.screenshot({ path: join(artifacts, "04-trained.png"), fullPage: true });

  await page.reload();
  await page.waitForFunction(() => document.body.dataset.ready === "true", null, { timeout: 180_000 });
  assert.match(await page.textContent("#resume-text"), new RegExp(`iteration ${saved}\\b`));
  await page.click("#resume-saved-btn");
  await waitIteration(page, saved + 1);
  assert.equal(await page.isChecked("#augment-real"), true, "the checkpoint kept the run's augmentation setting");
  await page.click("#pause-btn");
  await page.screenshot({ path: join(artifacts, "05-resumed.png"), fullPage: true });
  await context.close();
});

test("a reload in the middle of training resumes from the last periodic checkpoint", async () => {
  const context = await newContext();
  const page = await openPage(context);
  await uploadRealData(page);
  await setTinySettings(page, {}, "recovery");
  await page.fill("#ckpt-every", "2");
  await page.click("#start-btn");
  await page.waitForFunction(() => /periodic/.test(document.getElementById("ckpt").textContent), null, { timeout: 240_000 });
  const saved = await savedIteration(page);
  assert.ok(saved >= 2 && saved % 2 === 0);
  await page.reload(); // training still running
  await page.waitForFunction(() => document.body.dataset.ready === "true", null, { timeout: 180_000 });
  const offered = Number((await page.textContent("#resume-text")).match(/iteration (\d+)/)[1]);
  assert.ok(offered >= saved, `offered ${offered}, saved ${saved}`);
  await page.click("#resume-saved-btn");
  await waitIteration(page, offered + 1);
  await page.click("#pause-btn");
  await context.close();
});

test("earlier checkpoints are kept, and training goes back to one and continues from it", async () => {
  const context = await newContext();
  const page = await openPage(context);
  await uploadRealData(page);
  await setTinySettings(page, {}, "recovery");
  await page.fill("#ckpt-every", "1"); // a copy kept every 10 checkpoints: at 10, 20, …
  await page.click("#start-btn");
  await page.waitForSelector(".kept-btn[data-iteration='20']", { timeout: 240_000 });
  await page.click("#pause-btn");
  await page.waitForFunction(() => /pause/.test(document.getElementById("ckpt").textContent), null, { timeout: 120_000 });
  const keptAt = await page.$$eval(".kept-btn", (bs) => bs.map((b) => Number(b.dataset.iteration)));
  assert.deepEqual(keptAt.slice(0, 2), [10, 20]);
  await page.screenshot({ path: join(artifacts, "05b-kept-checkpoints.png"), fullPage: true });

  await page.click(".kept-btn[data-iteration='10']");
  await page.waitForFunction(() => /Back at iteration 10\b/.test(document.getElementById("train-notice").textContent), null, { timeout: 60_000 });
  assert.equal(await page.isChecked("#continue-model"), true, "going back sets training to continue from the model");
  assert.equal(await iteration(page), 10);
  const firstStats = page.evaluate(
    () => new Promise((ok) => window.dermaebm.state.engine.addEventListener("stats", (e) => ok(e.detail.stats.iteration), { once: true })),
  );
  await page.click("#start-btn");
  assert.equal(await firstStats, 11, "training continued from the kept state at iteration 10");
  await page.click("#pause-btn");
  // The copy at 20 belonged to the run that was left; the one at 10 stays.
  await page.waitForFunction(() => !document.querySelector(".kept-btn[data-iteration='20']"), null, { timeout: 60_000 });
  assert.ok(await page.isVisible(".kept-btn[data-iteration='10']"));
  await context.close();
});

test("the denoising recipe trains a new network here, and its walk draws from noise level by level", async () => {
  const context = await newContext();
  const page = await openPage(context);
  await uploadRealData(page);
  await setTinySettings(page, { "denoising.levels": 4 }, "denoising");
  const losses = page.evaluate(
    () =>
      new Promise((ok) => {
        const seen = [];
        window.dermaebm.state.engine.addEventListener("stats", (e) => {
          seen.push(e.detail.stats.loss);
          if (seen.length === 3) ok(seen);
        });
      }),
  );
  await page.click("#start-btn");
  const seen = await losses;
  assert.ok(seen.every((l) => Number.isFinite(l) && l > 0), `denoising losses ${seen}`);
  await page.click("#pause-btn");
  await page.waitForFunction(() => !document.getElementById("gen-btn").disabled, null, { timeout: 120_000 });
  assert.equal(await shippedRecipe(page), "denoising", "the model trained here is the denoising one");
  await page.fill("#gen-count", "4");
  await page.fill("#gen-steps", "4");
  await page.click("#gen-btn");
  await page.waitForFunction(() => /From noise down 4 noise levels/.test(document.getElementById("gen-kind").textContent), null, { timeout: 120_000 });
  assert.match(await page.getAttribute("#chain-grid", "data-levels"), /^(\d+),.*,0$/, "the walk was drawn level by level");
  assert.equal(await page.isVisible("#train-error"), false, await page.textContent("#train-error"));
  await context.close();
});

test("Continue from the current model trains the shipped model on from its iteration", async () => {
  const context = await newContext();
  const page = await openPage(context);
  const shipped = await page.evaluate(() => window.dermaebm.state.model.iteration);
  assert.ok(shipped > 0, "the shipped model has iterations behind it");
  await uploadRealData(page);
  await setTinySettings(page);
  await page.check("#continue-model");
  const firstStats = page.evaluate(
    () => new Promise((ok) => window.dermaebm.state.engine.addEventListener("stats", (e) => ok(e.detail.stats.iteration), { once: true })),
  );
  await page.click("#start-btn");
  assert.equal(await firstStats, shipped + 1);
  await page.click("#pause-btn");
  assert.equal(await page.isVisible("#train-error"), false, await page.textContent("#train-error"));
  await context.close();
});

test("the engine dying mid-checkpoint keeps the previous checkpoint, and a restart on the CPU continues", async () => {
  const context = await newContext();
  const page = await openPage(context);
  await uploadRealData(page);
  await setTinySettings(page, {}, "recovery");
  await page.fill("#ckpt-every", "1");
  await page.click("#start-btn");
  await page.waitForFunction(() => /periodic/.test(document.getElementById("ckpt").textContent), null, { timeout: 240_000 });
  // The worker posts an iteration's statistics, then writes its checkpoint: stop it right there.
  await page.evaluate(() => {
    const engine = window.dermaebm.state.engine;
    engine.addEventListener("stats", () => engine.terminate("Simulated loss of the engine (test)."), { once: true });
  });
  await page.waitForSelector("#lost:not([hidden])", { timeout: 120_000 });
  const kept = Number((await page.textContent("#lost-text")).match(/last checkpoint \(iteration (\d+)\) is kept/)?.[1]);
  assert.ok(kept >= 1, await page.textContent("#lost-text"));
  await page.screenshot({ path: join(artifacts, "06-engine-lost.png"), fullPage: true });

  await page.click("#restart-cpu-btn");
  await page.waitForSelector("#train-notice:not([hidden])", { timeout: 180_000 });
  // The checkpoint the worker had finished just before it died may have landed meanwhile.
  const restored = Number((await page.textContent("#train-notice")).match(/checkpoint at iteration (\d+)/)?.[1]);
  assert.ok(restored >= kept, await page.textContent("#train-notice"));
  assert.match(await page.textContent("#backend"), /CPU/);
  await page.click("#resume-btn");
  await waitIteration(page, restored + 1);
  await page.click("#pause-btn");

  // And after a reload, the stored checkpoint still loads, and training goes on from it.
  await page.waitForFunction(() => /pause/.test(document.getElementById("ckpt").textContent), null, { timeout: 120_000 });
  const paused = await savedIteration(page);
  await page.reload();
  await page.waitForFunction(() => document.body.dataset.ready === "true", null, { timeout: 180_000 });
  const firstStats = page.evaluate(
    () => new Promise((ok) => window.dermaebm.state.engine.addEventListener("stats", (e) => ok(e.detail.stats.iteration), { once: true })),
  );
  await page.click("#resume-saved-btn");
  assert.equal(await firstStats, paused + 1, "training resumed at the stored iteration");
  await page.click("#pause-btn");
  assert.equal(await page.isVisible("#train-error"), false, await page.textContent("#train-error"));
  await context.close();
});

/** In the page: keeps what the engine answers to each `generate` (window.generated), so a test
 * sees the samples the engine drew, not only what the page drew of them. */
function recordGenerated() {
  const engine = window.dermaebm.state.engine;
  const call = engine.call.bind(engine);
  engine.call = async (op, ...args) => {
    const result = await call(op, ...args);
    if (op === "generate") window.generated = { class: result.class, seed: result.seed, samples: Array.from(result.samples) };
    return result;
  };
}

/** Generates with the form as it is and class `label` picked ("4: mel"); resolves what the
 * engine answered (see recordGenerated). */
async function generateClass(page, label) {
  await page.selectOption("#gen-class", { label });
  await page.evaluate(() => {
    delete document.getElementById("gen-grid").dataset.class;
    window.generated = null;
  });
  await page.click("#gen-btn");
  // The class is stamped on the grid once the draw is done.
  await page.waitForFunction(() => "class" in document.getElementById("gen-grid").dataset && window.generated, null, { timeout: 180_000 });
  assert.equal(await page.isVisible("#gen-error"), false, await page.textContent("#gen-error"));
  return page.evaluate(() => window.generated);
}

/** The class did something to the samples: the same draw (same seed, same start) under class 4
 * twice gives the same images, and under `other` different ones. A sampler that dropped the
 * class — labels that never reached the chains — would give `other` the same images. */
async function checkTheClassReachesTheChains(page, other) {
  await page.fill("#gen-seed", "7");
  await page.evaluate(recordGenerated);
  const mel = await generateClass(page, "4: mel");
  const again = await generateClass(page, "4: mel");
  const otherClass = await generateClass(page, other);
  assert.equal(mel.class, 4, "the engine sampled class 4");
  assert.equal(mel.seed, 7);
  assert.equal(again.seed, 7);
  assert.equal(otherClass.seed, 7);
  assert.ok(mel.samples.length > 0);
  assert.deepEqual(again.samples, mel.samples, "the same draw under the same class gives the same images");
  const differ = mel.samples.filter((v, i) => v !== otherClass.samples[i]).length;
  console.log(`the same draw under class 4 and under ${other}: ${differ} of ${mel.samples.length} bytes differ`);
  assert.ok(differ > 0, `the same draw under ${other} gives other images than under class 4`);
  await page.fill("#gen-seed", "");
}

test("class-conditional training: pick a class, generate it, classify the val split", async () => {
  const context = await newContext();
  const page = await openPage(context);
  await uploadRealData(page);
  await setTinySettings(page, { batch_size: 16 }, "contrastive");
  await page.check("#conditional");
  await page.click("#start-btn");
  await waitIteration(page, 2);
  await page.click("#pause-btn");
  await page.waitForFunction(() => !document.getElementById("gen-btn").disabled, null, { timeout: 120_000 });
  assert.equal(await page.isVisible("#gen-class"), true, "a class picker appears for a conditional model");
  // From noise, so that the two classes' draws start from the same images.
  await page.selectOption("#gen-from", "noise");
  await page.fill("#gen-count", "4");
  await page.fill("#gen-steps", "5");
  await checkTheClassReachesTheChains(page, "0: akiec");
  await page.click("#classify-btn");
  await page.waitForFunction(() => /Accuracy on \d+ val images/.test(document.getElementById("classify-result").textContent), null, { timeout: 180_000 });
  const result = await page.textContent("#classify-result");
  assert.match(result, /by the model's class head — always answering the most common class \(nv\) gets 6\d\.\d %/);
  const [, rows, shown] = result.match(/Accuracy on (\d+) val images: ([\d.]+) %/) ?? assert.fail(result);
  // The figure is the model's: the same images classified one by one through another entry
  // point (their RGBA bytes), compared with their labels here.
  const right = await page.evaluate(async (rows) => {
    const { call } = window.dermaebm;
    const labels = await call("datasetLabels", "val", 0, rows);
    const probs = await call("classifyRgba", await call("datasetImages", "val", 0, rows), rows);
    const classes = probs.length / rows;
    let right = 0;
    for (let i = 0; i < rows; i++) {
      const row = Array.from(probs.subarray(i * classes, (i + 1) * classes));
      right += row.indexOf(Math.max(...row)) === labels[i] ? 1 : 0;
    }
    return right;
  }, Number(rows));
  console.log(`${result} (counted here: ${right} of ${rows})`);
  assert.equal(shown, (100 * right / Number(rows)).toFixed(1), `the accuracy shown is the model's on the val split: ${right} of ${rows} right`);
  await page.screenshot({ path: join(artifacts, "07-conditional.png"), fullPage: true });
  await context.close();
});

test("class-conditional recovery: the walk from noise generates under the class picked, and a run here gets its class embedding", async () => {
  const context = await newContext();
  // The shipped recovery model is class-conditional (weights/README.md): its class rows are
  // trained, so the class must change the walk.
  const page = await openPage(context, "?model=recovery");
  assert.equal(await page.evaluate(() => window.dermaebm.state.model.classes), 7, "the shipped recovery model is class-conditional");
  await page.fill("#gen-count", "4");
  await checkTheClassReachesTheChains(page, "5: nv");

  await uploadRealData(page);
  await setTinySettings(page, { batch_size: 8, "recovery.levels": 2 }, "recovery");
  await page.check("#conditional");
  await page.click("#start-btn");
  await waitIteration(page, 2);
  await page.click("#pause-btn");
  await page.waitForFunction(() => !document.getElementById("gen-btn").disabled, null, { timeout: 120_000 });
  assert.equal(await page.evaluate(() => window.dermaebm.state.model.classes), 7, "the model is conditional over the data's 7 classes");
  assert.equal(await page.isVisible("#gen-class"), true, "a class picker appears for a conditional recovery model");
  await page.fill("#gen-count", "4");
  // The run's net walks under a class too (its class rows have barely moved in 2 updates, so
  // the images are not compared here: the shipped model's walk above is).
  await page.evaluate(recordGenerated);
  assert.equal((await generateClass(page, "4: mel")).class, 4);
  await context.close();
});

test("inpainting repaints only the mask, and the result exports as PNG", async () => {
  const context = await newContext();
  const page = await openPage(context);
  await uploadRealData(page);
  await page.click("#edit-pick-btn");
  await page.click("button[data-preset=centre_square]");
  await page.waitForFunction(() => Number(document.getElementById("edit-source").dataset.masked) === 14 * 14);
  await page.fill("#edit-steps", "20");
  await page.click("#inpaint-btn");
  await page.waitForFunction(() => /Inpainted: energy/.test(document.getElementById("edit-result").textContent), null, { timeout: 120_000 });
  // Pixels outside the mask are the source's byte for byte; inside, the chain repainted them.
  const pixels = await page.evaluate(() => {
    const e = window.dermaebm.state.lastEdit;
    let keptSame = 0, kept = 0, changed = 0;
    for (let p = 0; p < e.mask.length; p++) {
      const same = [0, 1, 2].every((c) => e.after[p * 4 + c] === e.before[p * 4 + c]);
      if (e.mask[p]) changed += same ? 0 : 1;
      else (kept++, (keptSame += same ? 1 : 0));
    }
    return { kept, keptSame, changed, masked: e.mask.reduce((a, b) => a + b, 0) };
  });
  assert.equal(pixels.keptSame, pixels.kept, "every pixel outside the mask is kept");
  assert.ok(pixels.changed > pixels.masked / 2, `most masked pixels were repainted (${pixels.changed} of ${pixels.masked})`);
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("#edit-png-btn")]);
  assert.equal(download.suggestedFilename(), "dermaebm-before-after.png");
  const png = readFileSync(await download.path());
  assert.deepEqual([...png.subarray(1, 4)], [0x50, 0x4e, 0x47], "a PNG file");
  // That PNG, scored as an image file (resized to the model's size).
  await page.setInputFiles("#score-file", { name: "before-after.png", mimeType: "image/png", buffer: png });
  await page.waitForFunction(() => /before-after\.png: E = -?[\d.]+/.test(document.getElementById("score-result").textContent), null, { timeout: 60_000 });
  // Denoising a noisy copy.
  await page.click("#add-noise-btn");
  await page.click("#denoise-btn");
  await page.waitForFunction(() => /Denoised: energy/.test(document.getElementById("edit-result").textContent), null, { timeout: 120_000 });
  const moved = await page.evaluate(() => {
    const e = window.dermaebm.state.lastEdit;
    return e.after.some((v, i) => v !== e.before[i]);
  });
  assert.ok(moved, "denoising changed the noisy image");
  await page.screenshot({ path: join(artifacts, "08-inpainting.png"), fullPage: true });
  await context.close();
});

test("embed.html renders samples with <ebm-sampler> from pkg/ alone", async () => {
  const context = await newContext();
  const page = await context.newPage();
  watch(page);
  const requested = [];
  page.on("request", (r) => requested.push(new URL(r.url()).pathname));
  await page.goto(`${base}embed.html`);
  await page.waitForFunction(() => ["ready", "error"].includes(document.getElementById("sampler").getAttribute("state")), null, { timeout: 180_000 });
  const status = await page.evaluate(() => document.getElementById("sampler").shadowRoot.querySelector("p").textContent);
  assert.equal(await page.getAttribute("#sampler", "state"), "ready", status);
  assert.match(status, /from noise through \d+ noise levels, \d+ steps|continued from the model's persistent chains, 40 steps/);
  assert.match(status, /seed \d+$/, "the seed is shown");
  assert.ok(await page.evaluate(() => document.getElementById("sampler").shadowRoot.querySelector("canvas").width > 1));
  const inside = (p) => p.startsWith("/dermaebm/pkg/") || p.startsWith("/dermaebm/weights/") || ["/dermaebm/embed.html", "/favicon.ico"].includes(p);
  const outside = requested.filter((p) => !inside(p));
  assert.deepEqual(outside, [], "the embed page loads nothing from the main site");
  await page.screenshot({ path: join(artifacts, "09-embed.png"), fullPage: true });
  await context.close();
});

test("no request left the site's origin, none failed or 404ed, and no page error was thrown", async () => {
  // Its own visit too, so that run alone it still checks a page (the site and embed.html).
  const context = await newContext();
  for (const path of ["", "embed.html"]) {
    const page = await context.newPage();
    watch(page);
    await page.goto(`${base}${path}`);
    await page.waitForFunction(() => document.body.dataset.ready || ["ready", "error"].includes(document.getElementById("sampler")?.getAttribute("state")), null, { timeout: 180_000 });
  }
  await context.close();
  assert.ok(watchedRequests > 0, "requests were watched");
  assert.deepEqual(foreignRequests, []);
  // The browser asks every origin for /favicon.ico; the site has none, which is not a broken link.
  assert.deepEqual(failedRequests.filter((r) => !r.includes("/favicon.ico")), []);
  assert.deepEqual(pageErrors, []);
});

test("a host that serves .wasm with another MIME type still runs the engine", async () => {
  // Many static hosts send application/octet-stream for .wasm: streaming compilation refuses
  // it, and wasm-bindgen's loader falls back to compiling the fetched bytes.
  const odd = await startStaticHost(join(root, "dist"), "elsewhere", { wasmType: "application/octet-stream" });
  try {
    const type = (await fetch(`${odd.base}pkg/dermaebm_bg.wasm`, { method: "HEAD" })).headers.get("content-type");
    assert.equal(type, "application/octet-stream");
    const context = await newContext();
    const page = await context.newPage();
    const errors = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(`${odd.base}embed.html`);
    await page.waitForFunction(() => ["ready", "error"].includes(document.getElementById("sampler").getAttribute("state")), null, { timeout: 180_000 });
    assert.equal(await page.getAttribute("#sampler", "state"), "ready");
    assert.deepEqual(errors, [], "no page error on a host with another MIME type");
    await context.close();
  } finally {
    odd.close();
  }
});

test("every page states the site's one Content-Security-Policy (the host sends no header)", async () => {
  for (const page of ["index.html", "embed.html"]) {
    const response = await fetch(`${base}${page}`);
    assert.equal(response.headers.get("content-security-policy"), null, "a plain host: no CSP header");
    assert.equal(pagePolicy(await response.text()), CSP, page);
  }
  // And the browser enforces it: a script from another origin is refused.
  const context = await newContext();
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(`${base}embed.html`);
  const blocked = await page.evaluate(
    () =>
      new Promise((resolve) => {
        document.addEventListener("securitypolicyviolation", (e) => resolve(e.violatedDirective), { once: true });
        const s = document.createElement("script");
        s.src = "https://example.invalid/x.js";
        document.head.append(s);
        setTimeout(() => resolve(null), 3000);
      }),
  );
  assert.match(String(blocked), /script-src/);
  assert.deepEqual(errors, [], "the refused script is the only thing that went wrong");
  await context.close();
});
