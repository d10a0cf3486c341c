// The browser's storage as the page sees it: the space the site uses (shown beside the
// checkpoint controls), persistent storage (asked for once, when the first checkpoint is written),
// the message for a checkpoint that did not fit, and the Web Lock that lets one tab of the site at
// a time train into the shared store (a second tab says so and keeps sampling).
import { $, show } from "./ui.js";
import { onRefresh, refresh, state } from "./session.js";

const LOCK = "dermaebm-training";
export const OTHER_TAB = "Training is running in another tab of this site: one tab at a time writes the checkpoints, so Start is off here until it stops. Generating, scoring and editing work here as usual.";

/** Releases the lock this tab holds (null: it holds none). */
let release = null;
/** Whether this tab still wants the lock (a run is starting or running). */
let wanted = false;
/** Set while a short write (going back, removing copies) holds the lock, so the tab does not
 * mistake its own hold for another tab's. */
let shortHold = false;
let askedPersistence = false;

const locks = () => globalThis.navigator?.locks;
const mb = (bytes) => (bytes / 1e6).toLocaleString("en", { maximumFractionDigits: 1 });

/** `{usage, quota, persisted}` in bytes, or null where the browser has no storage API. */
async function usageNow() {
  const storage = globalThis.navigator?.storage;
  if (!storage?.estimate) return null;
  const { usage = 0, quota = 0 } = await storage.estimate();
  return { usage, quota, persisted: (await storage.persisted?.()) ?? false };
}

/** Shows the space used and whether the browser may clear it. */
export async function showUsage() {
  const u = await usageNow().catch(() => null);
  const el = $("storage-use");
  if (!u) {
    el.textContent = "not reported by this browser";
    return;
  }
  el.dataset.usage = String(u.usage);
  el.dataset.quota = String(u.quota);
  el.textContent = `${mb(u.usage)} MB used of ${mb(u.quota)} MB; ${u.persisted ? "persistent (the browser keeps it)" : "best effort (the browser may clear it when the disk runs low)"}`;
}

/** Shows that a checkpoint write did not fit; `until` says what ends the message: "write" (the
 * next checkpoint that fits) or "action" (it stays until the visitor acts). */
export function showDidNotFit(text, until = "write") {
  show($("storage-error"), text);
  $("storage-error").dataset.until = until;
}

/** After a checkpoint was written: the first time, ask for persistent storage (unless it is
 * already granted — no asking again); then show the space used. The answer is not waited for:
 * a browser that asks its user (Firefox) must not hold up the next checkpoint. */
export async function afterCheckpointWrite() {
  if ($("storage-error").dataset.until === "write") show($("storage-error"), "");
  const storage = globalThis.navigator?.storage;
  if (!askedPersistence && storage?.persist) {
    askedPersistence = true;
    storage.persisted().then((granted) => granted || storage.persist()).then(showUsage, () => {});
  }
  await showUsage();
}

/** "`subject` did not fit in this browser's storage (X MB used of Y MB) — …", with the figures now. */
export async function didNotFit(subject) {
  const u = await usageNow().catch(() => null);
  const figures = u ? ` (${mb(u.usage)} MB used of ${mb(u.quota)} MB)` : "";
  return `${subject} did not fit in this browser's storage${figures} — remove kept checkpoints or download the weights.`;
}

/** Takes the training lock for this tab (kept until `letGoOfTrainingLock`); false when another
 * tab holds it. Without Web Locks (an insecure origin) there is nothing to take. */
export async function holdTrainingLock() {
  wanted = true;
  if (release || !locks()) return true;
  const got = await new Promise((answer) => {
    locks().request(LOCK, { ifAvailable: true }, (lock) => {
      if (!lock) return answer(false);
      return new Promise((done) => {
        release = done;
        answer(true);
      });
    });
  });
  if (!got) wanted = false;
  return got;
}

/** Lets the lock go once `writes` have finished — unless a run started again meanwhile. */
export function letGoOfTrainingLock(writes = Promise.resolve()) {
  wanted = false;
  writes.finally(() => {
    if (wanted || !release) return;
    release();
    release = null;
    watchOtherTabs();
  });
}

/** Runs `write` under the lock: at once when this tab holds it, else only if no tab does. */
export async function withStoreLock(write) {
  if (release || !locks()) return write();
  shortHold = true;
  try {
    let result;
    const ran = await locks().request(LOCK, { ifAvailable: true }, async (lock) => {
      if (!lock) return false;
      result = await write();
      return true;
    });
    if (!ran) throw new Error(OTHER_TAB);
    return result;
  } finally {
    shortHold = false;
  }
}

/** Whether another tab holds the lock now (Web Locks has no event for it: polled). */
async function watchOtherTabs() {
  if (!locks()) return;
  const { held = [] } = await locks().query();
  const other = !release && !shortHold && held.some((l) => l.name === LOCK);
  if (other !== state.otherTabTrains) {
    state.otherTabTrains = other;
    refresh();
  }
}

export function setupStorage() {
  onRefresh(() => show($("lock-notice"), state.otherTabTrains ? OTHER_TAB : ""));
  watchOtherTabs();
  setInterval(() => watchOtherTabs().catch(() => {}), 1000);
  showUsage();
}
