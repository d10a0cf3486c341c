// End-to-end tests of the site in a real Chromium (Debian's, driven by playwright-core), with
// WebGPU enabled (SwiftShader here). Screenshots land in tests/e2e/artifacts/.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { startServer } from "../../scripts/serve.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "../..");
const artifacts = join(here, "artifacts");
const realData = join(root, "../shared/data/dermamnist-ham10000-28.npz");
mkdirSync(artifacts, { recursive: true });

let server, browser, origin;
const foreignRequests = [];

before(async () => {
  server = await startServer(0);
  origin = `http://127.0.0.1:${server.address().port}`;
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: ["--enable-unsafe-webgpu", "--enable-unsafe-swiftshader", "--no-sandbox", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"],
  });
});

after(async () => {
  await browser?.close();
  server?.close();
});

async function openPage(context, query = "") {
  const page = await context.newPage();
  page.on("request", (r) => {
    const url = r.url();
    if (!url.startsWith(origin) && !url.startsWith("data:") && !url.startsWith("blob:")) foreignRequests.push(url);
  });
  page.on("pageerror", (e) => console.error("page error:", e.message));
  await page.goto(`${origin}/${query}`);
  await page.waitForFunction(() => document.getElementById("backend").textContent.startsWith("Backend:"), null, { timeout: 120_000 });
  return page;
}

async function setTinySettings(page) {
  const tiny = { batch_size: 16, langevin_steps: 4, buffer_size: 256, seed: 3 };
  for (const [name, value] of Object.entries(tiny)) await page.fill(`#settings [name=${name}]`, String(value));
}

test("the page reports its backend and shows samples from the shipped weights", async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await openPage(context);
  const backend = await page.textContent("#backend");
  assert.match(backend, /Backend: (CPU|WebGPU)/);
  if (backend.includes("CPU")) assert.ok(await page.isVisible("#backend-note"), "the CPU fallback is explained");
  if (existsSync(join(root, "weights/dermamnist.debm"))) {
    await page.waitForFunction(() => document.getElementById("gen-grid").width > 1, null, { timeout: 180_000 });
    assert.match(await page.textContent("#model-status"), /Shipped weights/);
  } else {
    assert.match(await page.textContent("#model-status"), /No shipped weights/);
  }
  await page.screenshot({ path: join(artifacts, "01-start.png"), fullPage: true });
  await context.close();
});

test("uploading DermaMNIST shows its splits; a malformed file shows its error", async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await openPage(context);
  await page.setInputFiles("#files", realData);
  await page.waitForSelector("td[data-split=train]", { timeout: 120_000 });
  assert.equal(await page.textContent("td[data-split=train]"), "7007");
  assert.equal(await page.textContent("td[data-split=val]"), "1003");
  await page.waitForFunction(() => document.getElementById("real-grid").width > 1);
  await page.screenshot({ path: join(artifacts, "02-dataset.png"), fullPage: true });

  await page.setInputFiles("#files", { name: "broken.npz", mimeType: "application/octet-stream", buffer: Buffer.from("this is not a zip file") });
  await page.waitForSelector("#data-error:not([hidden])");
  assert.match(await page.textContent("#data-error"), /broken\.npz: not a \.npz/);
  await page.screenshot({ path: join(artifacts, "03-bad-file.png"), fullPage: true });

  // A file that is not a weights file of this project is refused with a message.
  await page.setInputFiles("#weights-file", { name: "other-model.bin", mimeType: "application/octet-stream", buffer: Buffer.from("not weights at all") });
  await page.waitForSelector("#train-error:not([hidden])");
  assert.match(await page.textContent("#train-error"), /other-model\.bin: not a weights file/);
  await context.close();
});

test("training runs, charts advance, pause → reload → resume continues", async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  let page = await openPage(context);
  await page.setInputFiles("#files", realData);
  await page.waitForSelector("td[data-split=train]", { timeout: 120_000 });
  // A bad setting is refused with a message.
  await page.fill("#settings [name=batch_size]", "0");
  await page.click("#start-btn");
  await page.waitForSelector("#settings-error:not([hidden])");
  assert.match(await page.textContent("#settings-error"), /batch_size/);
  await setTinySettings(page);
  await page.click("#start-btn");
  await page.waitForFunction(() => Number(document.getElementById("iter").textContent) >= 3, null, { timeout: 240_000 });
  const points = await page.evaluate(() => document.querySelectorAll("#chart-loss canvas").length);
  assert.ok(points >= 1, "the loss chart is drawn");
  assert.match(await page.textContent("#speed"), /it\/s/);
  await page.click("#pause-btn");
  await page.waitForFunction(() => /pause/.test(document.getElementById("ckpt").textContent), null, { timeout: 120_000 });
  const saved = Number((await page.textContent("#ckpt")).match(/iteration (\d+)/)[1]);
  assert.ok(saved >= 3);
  await page.screenshot({ path: join(artifacts, "04-trained.png"), fullPage: true });

  await page.reload();
  await page.waitForSelector("#resume-offer:not([hidden])", { timeout: 120_000 });
  await page.click("#resume-saved-btn");
  await page.waitForFunction((s) => Number(document.getElementById("iter").textContent) > s, saved, { timeout: 240_000 });
  await page.click("#pause-btn");
  await page.screenshot({ path: join(artifacts, "05-resumed.png"), fullPage: true });
  await context.close();
});

test("no request left the site's origin", () => {
  assert.deepEqual(foreignRequests, []);
});
