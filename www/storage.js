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
/** Resolves once the lock this tab holds (or held last) is free again: `locks.request`'s promise. */
let released = Promise.resolve();
/** This tab's `clientId` in Web Locks' answers, learnt from a lock only it holds (null until
 * known, or where the browser gives none). A hold is told apart by who holds it, not by when
 * it was seen: the browser frees a lock a moment after its holder lets go, and a query in that
 * moment still lists it — a lone tab used to say "Training is running in another tab" for a
 * quarter of a second after each pause. */
let me = null;
/** Whether this tab still wants the lock (a run is starting or running). */
let wanted = false;
/** Short writes (going back, removing copies, cleaning up) holding the lock now. */
let shortHolds = 0;
/** Counts the changes of this tab's hold: without `clientId`, a query answered across one
 * may describe this tab's own hold. */
let holdChanges = 0;
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

/** Learns this tab's `clientId`: the holder of a lock named for this tab alone, held for good. */
async function learnWhoIAm() {
  const name = `${LOCK}-tab-${Date.now()}-${Math.random().toString(36).slice(2)}`;
  await new Promise((held) => locks().request(name, () => (held(), new Promise(() => {}))));
  const { held = [] } = await locks().query();
  me = held.find((l) => l.name === name)?.clientId ?? null;
}

/** Whether `lock` (from a query) is the training lock held by another tab. */
const anotherTabs = (lock) => lock.name === LOCK && me !== null && lock.clientId !== me;

/** Asks for the lock without waiting for it: `release` is set when it is granted. A refusal
 * because this tab's own last hold is not freed yet is waited out; one because another tab
 * holds it is an answer. */
async function requestLock() {
  for (;;) {
    await released;
    const got = await new Promise((answer) => {
      released = locks().request(LOCK, { ifAvailable: true }, (lock) => {
        if (!lock) return answer(false);
        return new Promise((done) => {
          release = done;
          answer(true);
        });
      });
    });
    if (got) return true;
    const { held = [] } = await locks().query();
    const holder = held.find((l) => l.name === LOCK);
    if (holder && (me === null || anotherTabs(holder))) return false;
    // Freed meanwhile, or still this tab's own: try again once the browser has caught up.
    await new Promise((later) => setTimeout(later, 10));
  }
}

/** Takes the training lock for this tab (kept until `letGoOfTrainingLock`); false when another
 * tab holds it. Without Web Locks (an insecure origin) there is nothing to take. */
export async function holdTrainingLock() {
  wanted = true;
  if (release || !locks()) return true;
  holdChanges += 1;
  const got = await requestLock();
  holdChanges += 1;
  if (!got) wanted = false;
  return got;
}

/** Lets the lock go once `writes` have finished — unless a run started again meanwhile. */
export function letGoOfTrainingLock(writes = Promise.resolve()) {
  wanted = false;
  writes.finally(async () => {
    if (wanted || !release) return;
    holdChanges += 1;
    release();
    release = null;
    await released;
    holdChanges += 1;
    watchOtherTabs();
  });
}

/** Runs `write` under the lock: at once when this tab holds it, else only if no tab does. */
export async function withStoreLock(write) {
  if (release || !locks()) return write();
  shortHolds += 1;
  holdChanges += 1;
  try {
    await released;
    let result;
    // The request settles once the lock is free again.
    const ran = await locks().request(LOCK, { ifAvailable: true }, async (lock) => {
      if (!lock) return false;
      result = await write();
      return true;
    });
    if (!ran) throw new Error(OTHER_TAB);
    return result;
  } finally {
    shortHolds -= 1;
    holdChanges += 1;
  }
}

/** Whether another tab holds the lock now (Web Locks has no event for it: polled). Where the
 * browser names no holders, an answer that may describe this tab's own hold (it held the lock,
 * or its hold changed, while the query was out) is not taken for another tab's. */
async function watchOtherTabs() {
  if (!locks()) return;
  const before = holdChanges;
  const mine = () => Boolean(release) || shortHolds > 0;
  const heldHere = mine();
  const { held = [] } = await locks().query();
  const other = me !== null
    ? held.some(anotherTabs)
    : !heldHere && !mine() && holdChanges === before && held.some((l) => l.name === LOCK);
  if (other !== state.otherTabTrains) {
    state.otherTabTrains = other;
    refresh();
  }
}

export async function setupStorage() {
  onRefresh(() => show($("lock-notice"), state.otherTabTrains ? OTHER_TAB : ""));
  if (locks()) await learnWhoIAm().catch(() => {});
  watchOtherTabs();
  setInterval(() => watchOtherTabs().catch(() => {}), 1000);
  showUsage();
}
