// End-to-end tests of the site's browser storage (issues 39 and 40): a checkpoint that does not
// fit the storage quota, two tabs of one origin, a tab closed in the middle of a checkpoint
// write, and a damaged stored checkpoint. Each test has its own browser context (its own
// IndexedDB and Web Locks) and trains the smallest recovery net, so the file takes about a
// minute. The page's IndexedDB is read directly (`readStore`) to check what is stored, not only
// what the page says.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import {
  artifacts, collectErrors, gotoSite, launchChromium, nextStatsIteration, pauseAndWait, savedIteration, serveSite,
  setTinySettings, uploadRealData, waitIteration, waitReady, waitSavedIteration,
} from "./helpers.mjs";

mkdirSync(artifacts, { recursive: true });
let host, browser;

before(async () => {
  host = await serveSite();
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  host?.close();
});

const newContext = () => browser.newContext({ viewport: { width: 1280, height: 800 } });

/** A page of the site in `context`, its uncaught errors collected into `errors`. */
async function openPage(context, errors) {
  const page = await context.newPage();
  collectErrors(page, errors);
  await gotoSite(page, host.base);
  return page;
}

/** Trains the tiny net from the bundled data with a checkpoint every `every` updates. */
async function startTinyRun(page, every) {
  await uploadRealData(page);
  await setTinySettings(page);
  await page.fill("#ckpt-every", String(every));
  await page.click("#start-btn");
}

/** Waits until the pause's checkpoint is stored ("Last checkpoint … pause"); returns its iteration. */
async function pauseStored(page) {
  await pauseAndWait(page);
  await page.waitForFunction(() => /pause/.test(document.getElementById("ckpt").textContent), null, { timeout: 60_000 });
  return savedIteration(page);
}

/** In the page: what the site's IndexedDB holds — the current checkpoint (pointer and size),
 * the kept copies, the stored dataset and every stored blob's key. */
function readStore() {
  return new Promise((ok, fail) => {
    const open = indexedDB.open("dermaebm");
    open.onerror = () => fail(open.error);
    open.onsuccess = () => {
      const db = open.result;
      const tx = db.transaction(["meta", "blobs"]);
      const meta = tx.objectStore("meta"), blobs = tx.objectStore("blobs");
      const out = { current: null, currentBytes: null, kept: [], dataset: null, blobs: [] };
      meta.get("checkpoint").onsuccess = (e) => {
        const p = e.target.result;
        if (!p) return;
        out.current = { key: p.key, iteration: p.iteration };
        blobs.get(p.key).onsuccess = (g) => (out.currentBytes = g.target.result?.length ?? null);
      };
      meta.get("kept").onsuccess = (e) => (out.kept = (e.target.result ?? []).map((k) => ({ key: k.key, iteration: k.iteration })));
      meta.get("dataset").onsuccess = (e) => (out.dataset = e.target.result?.key ?? null);
      blobs.getAllKeys().onsuccess = (e) => (out.blobs = e.target.result);
      tx.oncomplete = () => {
        db.close();
        ok(out);
      };
    };
  });
}

/** Every stored blob is named by a pointer: no half-written record, no orphan. */
function assertNoStrayRecord(s) {
  const named = [s.current?.key, s.dataset, ...s.kept.map((k) => k.key)].filter(Boolean).sort();
  assert.deepEqual([...s.blobs].sort(), named, "every stored blob is the current checkpoint, the dataset or a kept copy");
}

/** In the page: a write of `bytes` that cannot fit, so that Chromium reads the origin's quota
 * now. (It grants writes from the space it read up to 30 s before — BucketContext's cache — so
 * a lowered quota would otherwise be felt only that much later.) Resolves how it ended. */
function writeTooBig(bytes) {
  return new Promise((ok) => {
    const open = indexedDB.open("quota-probe", 1);
    open.onupgradeneeded = () => open.result.createObjectStore("s");
    open.onsuccess = () => {
      const tx = open.result.transaction("s", "readwrite");
      tx.objectStore("s").put(new Uint8Array(bytes), "x");
      tx.oncomplete = () => ok("committed");
      tx.onabort = () => ok(tx.error?.name ?? "aborted");
    };
  });
}

const quota = (cdp, quotaSize) => cdp.send("Storage.overrideQuotaForOrigin", { origin: host.origin, quotaSize });
const used = async (cdp) => (await cdp.send("Storage.getUsageAndQuota", { origin: host.origin })).usage;
const NOT_FIT = /The checkpoint of update (\d+) did not fit in this browser's storage \(([\d.,]+) MB used of ([\d.,]+) MB\) — remove kept checkpoints or download the weights\. Training is paused\. The checkpoint of update (\d+) is still the current one/;

test("a checkpoint that does not fit the quota fails whole with a message, training pauses, every earlier checkpoint stays and resumes", async () => {
  const context = await newContext();
  const errors = [];
  const page = await context.newPage();
  collectErrors(page, errors);
  const cdp = await context.newCDPSession(page);
  // Roomy at first (set before anything is stored, so Chromium's first read of it is this one).
  await quota(cdp, 60e6);
  await gotoSite(page, host.base);
  await startTinyRun(page, 1); // a kept copy at 10
  await page.waitForSelector(".kept-btn[data-iteration='10']", { timeout: 120_000 });
  const earlier = await pauseStored(page);
  const stored = await page.evaluate(readStore);
  assert.equal(stored.current.iteration, earlier);
  const checkpointBytes = stored.currentBytes;
  // Now room for half a checkpoint more than is stored.
  const usage = await used(cdp);
  await quota(cdp, Math.floor(usage + checkpointBytes / 2));
  assert.equal(await page.evaluate(writeTooBig, 64e6), "QuotaExceededError", "the lowered quota is in force");

  await page.click("#resume-btn");
  await page.waitForSelector("#storage-error:not([hidden])", { timeout: 120_000 });
  const message = await page.textContent("#storage-error");
  const [, failed, , , current] = message.match(NOT_FIT) ?? assert.fail(message);
  assert.ok(Number(failed) > earlier, message);
  assert.equal(Number(current), earlier, message);
  console.log(`checkpoint ${checkpointBytes} bytes; quota ${Math.floor(usage + checkpointBytes / 2)} bytes (${usage} used); the page said: ${message}`);
  await page.waitForFunction(() => !window.dermaebm.state.running, null, { timeout: 60_000 });
  // The failed writes left nothing behind; the earlier checkpoint and the kept copy are whole.
  const after = await page.evaluate(readStore);
  assert.deepEqual(after.current, stored.current);
  assert.equal(after.currentBytes, checkpointBytes);
  assert.deepEqual(after.kept, stored.kept);
  assertNoStrayRecord(after);
  assert.match(await page.textContent("#ckpt"), new RegExp(`iteration ${earlier} `), "the page shows the checkpoint that is stored");
  assert.equal(await page.isEnabled("#save-btn"), true, "paused: the weights can be downloaded");
  await page.screenshot({ path: join(artifacts, "10-storage-full.png"), fullPage: true });

  // A reload resumes from the earlier checkpoint (which still does not leave room for another).
  await page.reload();
  await waitReady(page);
  assert.match(await page.textContent("#resume-text"), new RegExp(`iteration ${earlier}\\b`));
  const first = nextStatsIteration(page);
  await page.click("#resume-saved-btn");
  assert.equal(await first, earlier + 1, "training resumed from the earlier checkpoint");
  await page.waitForSelector("#storage-error:not([hidden])", { timeout: 120_000 });
  await page.waitForFunction(() => !window.dermaebm.state.running, null, { timeout: 60_000 });

  // Removing the kept copies (not the current checkpoint) makes room: the next checkpoint fits.
  const shownBefore = Number(await page.getAttribute("#storage-use", "data-usage"));
  await page.click("#remove-kept-btn");
  await page.waitForFunction(() => document.getElementById("kept").textContent === "none yet");
  const trimmed = await page.evaluate(readStore);
  assert.deepEqual(trimmed.kept, []);
  assert.deepEqual(trimmed.current, stored.current, "the current checkpoint stays");
  assertNoStrayRecord(trimmed);
  await page.click("#resume-btn");
  await waitSavedIteration(page, earlier + 1);
  assert.equal(await page.isHidden("#storage-error"), true, "the message goes once a checkpoint fits again");
  const shownAfter = Number(await page.getAttribute("#storage-use", "data-usage"));
  console.log(`usage shown: ${shownBefore} bytes before removing the kept copy, ${shownAfter} after the next checkpoint`);
  assert.ok(shownAfter > 0, "the space used is shown");
  await pauseAndWait(page);
  await context.close();
  assert.deepEqual(errors, [], "no page error");
});

test("one tab at a time trains: a second tab of the site says so, cannot start, and still samples", async () => {
  const context = await newContext();
  const errors = [];
  const first = await openPage(context, errors);
  await startTinyRun(first, 2);
  await waitSavedIteration(first, 2);
  const dataset = (await first.evaluate(readStore)).dataset;

  const second = await openPage(context, errors);
  await uploadRealData(second);
  await second.waitForSelector("#lock-notice:not([hidden])", { timeout: 10_000 });
  assert.match(await second.textContent("#lock-notice"), /training is running in another tab of this site/i);
  assert.equal(await second.isDisabled("#start-btn"), true, "Start is off while the other tab trains");
  assert.equal((await second.evaluate(readStore)).dataset, dataset, "the second tab's upload did not replace the stored run's data");
  // Sampling works in the second tab.
  const seed = await second.getAttribute("#gen-kind", "data-seed");
  await second.fill("#gen-count", "4");
  await second.fill("#gen-steps", "3");
  await second.click("#gen-btn");
  await second.waitForFunction((s) => document.getElementById("gen-kind").dataset.seed !== s && !/Walking/.test(document.getElementById("gen-kind").textContent), seed, { timeout: 120_000 });
  assert.equal(await second.getAttribute("#gen-grid", "data-count"), "4", "the second tab drew new samples");
  assert.ok(await first.evaluate(() => window.dermaebm.state.running), "the first tab trained on meanwhile");
  await second.screenshot({ path: join(artifacts, "11-second-tab.png"), fullPage: true });

  // Once the first tab pauses, the second may train; then the first is the one held back.
  await pauseAndWait(first);
  await second.waitForSelector("#lock-notice", { state: "hidden", timeout: 10_000 });
  await setTinySettings(second);
  await second.click("#start-btn");
  await waitIteration(second, 1);
  await first.waitForSelector("#lock-notice:not([hidden])", { timeout: 10_000 });
  assert.equal(await first.isDisabled("#resume-btn"), true, "the first tab cannot resume while the second trains");
  await pauseAndWait(second);
  await context.close();
  assert.deepEqual(errors, [], "no page error");
});

/** In the page: the next checkpoint's bytes are put, and then its transaction is kept busy so
 * that it never commits; `writeInFlight(key)` tells the test, which closes the tab. */
function holdNextCheckpointWrite() {
  const put = IDBObjectStore.prototype.put;
  IDBObjectStore.prototype.put = function (value, key) {
    const request = put.call(this, value, key);
    if (this.name === "blobs" && String(key).startsWith("checkpoint-")) {
      const busy = () => (this.get("nothing").onsuccess = busy);
      busy();
      window.writeInFlight(key);
    }
    return request;
  };
}

/** In the page: counts the calls of navigator.storage.persist() (in `window.persistAsked`). */
function countPersistRequests() {
  const persist = navigator.storage.persist.bind(navigator.storage);
  window.persistAsked = 0;
  navigator.storage.persist = () => {
    window.persistAsked += 1;
    return persist();
  };
}

test("a tab closed in the middle of a checkpoint write leaves the previous checkpoint current and whole", async () => {
  const context = await newContext();
  const errors = [];
  const page = await openPage(context, errors);
  await page.evaluate(countPersistRequests);
  await startTinyRun(page, 2);
  await waitSavedIteration(page, 2);
  const saved = await pauseStored(page);
  const before = await page.evaluate(readStore);
  // Two checkpoints written (periodic, pause): persistent storage was asked for once, and the
  // space used is shown.
  assert.equal(await page.evaluate(() => window.persistAsked), 1, "persistent storage is asked for once, at the first checkpoint");
  assert.match(await page.textContent("#storage-use"), /^[\d.,]+ MB used of [\d.,]+ MB; (persistent|best effort)/);
  assert.ok(Number(await page.getAttribute("#storage-use", "data-usage")) >= before.currentBytes, "the usage shown counts the checkpoint");

  let inFlight;
  const writing = new Promise((ok) => (inFlight = ok));
  await page.exposeFunction("writeInFlight", (key) => inFlight(key));
  await page.evaluate(holdNextCheckpointWrite);
  await page.click("#resume-btn");
  const key = await writing;
  await page.close();

  const next = await openPage(context, errors);
  const after = await next.evaluate(readStore);
  assert.deepEqual(after.current, before.current, "the previous checkpoint is still the current one");
  assert.equal(after.currentBytes, before.currentBytes, "and whole");
  assert.ok(!after.blobs.includes(key), "the write that was in flight left nothing");
  assertNoStrayRecord(after);
  assert.match(await next.textContent("#resume-text"), new RegExp(`iteration ${saved}\\b`));
  const first = nextStatsIteration(next);
  await next.click("#resume-saved-btn");
  assert.equal(await first, saved + 1, "the previous checkpoint loads and training goes on from it");
  await pauseAndWait(next);
  await context.close();
  assert.deepEqual(errors, [], "no page error");
});

/** In the page: flips one bit in the middle of the current checkpoint's stored bytes. */
function damageCurrentCheckpoint() {
  return new Promise((ok, fail) => {
    const open = indexedDB.open("dermaebm");
    open.onerror = () => fail(open.error);
    open.onsuccess = () => {
      const db = open.result;
      const tx = db.transaction(["meta", "blobs"], "readwrite");
      const blobs = tx.objectStore("blobs");
      tx.objectStore("meta").get("checkpoint").onsuccess = (e) => {
        const { key } = e.target.result;
        blobs.get(key).onsuccess = (g) => {
          const bytes = new Uint8Array(g.target.result);
          const at = Math.floor(bytes.length / 2);
          bytes[at] ^= 0x10;
          blobs.put(bytes, key);
          tx.oncomplete = () => {
            db.close();
            ok({ key, at, length: bytes.length });
          };
        };
      };
    };
  });
}

test("a damaged stored checkpoint is reported on resume, nothing is deleted, and the next older kept one resumes", async () => {
  const context = await newContext();
  const errors = [];
  const page = await openPage(context, errors);
  await startTinyRun(page, 1); // a kept copy at 10
  await page.waitForSelector(".kept-btn[data-iteration='10']", { timeout: 120_000 });
  await waitSavedIteration(page, 12);
  const saved = await pauseStored(page);
  const damage = await page.evaluate(damageCurrentCheckpoint);

  await page.reload();
  await waitReady(page);
  await page.click("#resume-saved-btn");
  await page.waitForSelector("#damaged:not([hidden])", { timeout: 60_000 });
  const text = await page.textContent("#damaged-text");
  console.log(`one bit flipped at byte ${damage.at} of ${damage.length}: ${text}`);
  assert.match(text, new RegExp(`The stored checkpoint of update ${saved} could not be loaded: .*section \`\\w+\` fails its checksum\\. Nothing was deleted\\. The next older kept checkpoint is from update 10`));
  assert.equal(await page.getAttribute("#older-btn", "data-iteration"), "10");
  assert.equal(await page.evaluate(() => window.dermaebm.state.running), false, "nothing trains from a damaged file");
  const kept = await page.evaluate(readStore);
  assert.deepEqual(kept.current, { key: damage.key, iteration: saved }, "the damaged checkpoint is not deleted silently");
  assert.equal(kept.currentBytes, damage.length);
  assert.ok(kept.kept.some((k) => k.iteration === 10));
  await page.screenshot({ path: join(artifacts, "12-damaged-checkpoint.png"), fullPage: true });

  const first = nextStatsIteration(page);
  await page.click("#older-btn");
  assert.equal(await first, 11, "training resumed from the kept checkpoint of update 10");
  assert.equal(await page.isHidden("#damaged"), true);
  await pauseStored(page);
  const now = await page.evaluate(readStore);
  assert.ok(now.current.iteration > 10 && now.current.key !== damage.key, "the chosen copy's run replaced the damaged checkpoint");
  assertNoStrayRecord(now);
  await context.close();
  assert.deepEqual(errors, [], "no page error");
});
