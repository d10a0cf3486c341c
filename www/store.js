// Checkpoints and the last dataset, kept in IndexedDB so that a reload (or a crash) can resume.
// A checkpoint is written new, then switched to: its bytes go under a fresh key in one
// transaction, and only a second transaction points "current" at them and drops the old ones.
// A reload or crash between the two leaves the previous checkpoint current and whole.
// A few earlier checkpoints are kept beside it (every KEEP_SPACING checkpoints — the engine's
// checkpoint policy marks which, `keep` — the newest KEPT_COPIES): the one rolling checkpoint
// has long been overwritten when a run is seen to have drifted, and going back to a state from
// before the drift is the way out.
// Writes from this page go one at a time (`serially`): two checkpoints written at once would
// each drop the other's not-yet-switched bytes. Other tabs are kept out by the page's Web Lock
// (storage.js). A write that does not fit fails whole (IndexedDB aborts the transaction) and is
// reported as a quota error (`isQuotaError`); nothing earlier is touched. Bytes a crash left
// between the two transactions, which no pointer names, go at the next start (`dropOrphans`).
// Each checkpoint names the stored dataset it was trained on (`dataset`: its key, null when
// the run's data could not be stored), so that a resume never pairs it with other data.
const DB = "dermaebm", VERSION = 2, BLOBS = "blobs", META = "meta";

let queue = Promise.resolve();
/** Runs `write` after every write queued before it; resolves or fails as it does. */
function serially(write) {
  const result = queue.then(write);
  queue = result.catch(() => {});
  return result;
}
/** Resolves once every write queued so far has finished (well or not). */
export const idle = () => queue;

/** Whether `err` says the browser's storage quota was exceeded (a write that did not fit). */
export const isQuotaError = (err) => err?.name === "QuotaExceededError" || /quota/i.test(err?.message ?? "");

let opened = null;
function open() {
  opened ??= new Promise((ok, fail) => {
    const req = indexedDB.open(DB, VERSION);
    req.onupgradeneeded = () => {
      const db = req.result;
      for (const name of [...db.objectStoreNames]) if (![BLOBS, META].includes(name)) db.deleteObjectStore(name);
      if (!db.objectStoreNames.contains(BLOBS)) db.createObjectStore(BLOBS);
      if (!db.objectStoreNames.contains(META)) db.createObjectStore(META);
    };
    req.onsuccess = () => ok(req.result);
    req.onerror = () => fail(req.error);
    req.onblocked = () => fail(new Error("the page's storage is held by another tab of this site; close it and reload"));
  });
  return opened;
}

function done(tx) {
  return new Promise((ok, fail) => {
    tx.oncomplete = () => ok();
    tx.onerror = tx.onabort = () => fail(tx.error ?? new Error("the storage transaction was aborted"));
  });
}

const request = (req) => new Promise((ok, fail) => {
  req.onsuccess = () => ok(req.result);
  req.onerror = () => fail(req.error);
});

/** Writes `value` under a fresh key, then makes it what `name` points to; resolves the key. */
const putAtomically = (name, value, summary = {}) => serially(async () => {
  const db = await open();
  const key = `${name}-${Date.now()}-${Math.random().toString(36).slice(2)}`;
  const write = db.transaction(BLOBS, "readwrite");
  write.objectStore(BLOBS).put(value, key);
  await done(write);
  const swap = db.transaction([META, BLOBS], "readwrite");
  swap.objectStore(META).put({ key, ...summary }, name);
  // Everything else stored for this name is an older version or a write that never got switched to.
  await dropBlobsBut(swap.objectStore(BLOBS), `${name}-`, [key]);
  await done(swap);
  return key;
});

async function getCurrent(name) {
  const db = await open();
  const tx = db.transaction([META, BLOBS]);
  const pointer = await request(tx.objectStore(META).get(name));
  if (!pointer) return null;
  const value = await request(tx.objectStore(BLOBS).get(pointer.key));
  return value ? { ...pointer, value } : null;
}

/** `{bytes, iteration, config, savedAt, dataset}` (`dataset`: the key of the stored data it was
 * trained on, or null). */
export const saveCheckpoint = (c) =>
  putAtomically("checkpoint", c.bytes, { iteration: c.iteration, config: c.config, savedAt: c.savedAt, dataset: c.dataset ?? null });
export async function loadCheckpoint() {
  const c = await getCurrent("checkpoint");
  return c && { bytes: c.value, iteration: c.iteration, config: c.config, savedAt: c.savedAt, dataset: c.dataset };
}
/** What the current checkpoint is, without reading its bytes. */
export async function checkpointInfo() {
  const db = await open();
  return request(db.transaction(META).objectStore(META).get("checkpoint"));
}
/** How many earlier checkpoints are kept, and how many checkpoint intervals apart. */
export const KEPT_COPIES = 3, KEEP_SPACING = 10;

/** The kept copies' summaries (`{key, iteration, config, savedAt}`), oldest first. */
export async function keptCheckpoints() {
  const db = await open();
  return (await request(db.transaction(META).objectStore(META).get("kept"))) ?? [];
}

/**
 * Keeps checkpoint `c` as the newest earlier copy. Copies from a later iteration belong to a run
 * that was abandoned by going back, and go; so do all but the newest KEPT_COPIES.
 */
export const keepCheckpoint = (c) => serially(async () => {
  const db = await open();
  const key = `kept-${c.iteration}-${Date.now()}-${Math.random().toString(36).slice(2)}`;
  const write = db.transaction(BLOBS, "readwrite");
  write.objectStore(BLOBS).put(c.bytes, key);
  await done(write);
  const swap = db.transaction([META, BLOBS], "readwrite");
  const meta = swap.objectStore(META);
  const earlier = ((await request(meta.get("kept"))) ?? []).filter((k) => k.iteration < c.iteration);
  const kept = [...earlier, { key, iteration: c.iteration, config: c.config, savedAt: c.savedAt, dataset: c.dataset ?? null }].slice(-KEPT_COPIES);
  meta.put(kept, "kept");
  await dropBlobsBut(swap.objectStore(BLOBS), "kept-", kept.map((k) => k.key));
  await done(swap);
  return kept;
});

/** The bytes of the kept copy `key`, or an error if it is gone. */
export async function loadKept(key) {
  const db = await open();
  const bytes = await request(db.transaction(BLOBS).objectStore(BLOBS).get(key));
  if (!bytes) throw new Error("that earlier checkpoint is no longer stored");
  return bytes;
}

/**
 * Forgets the kept copies after `iteration`: a run continuing from there abandons them (and a
 * new run, from -Infinity, all of them). Returns what is left.
 */
export const keepOnlyUpTo = (iteration) => serially(async () => {
  const db = await open();
  const tx = db.transaction([META, BLOBS], "readwrite");
  const meta = tx.objectStore(META);
  const kept = ((await request(meta.get("kept"))) ?? []).filter((k) => k.iteration <= iteration);
  meta.put(kept, "kept");
  await dropBlobsBut(tx.objectStore(BLOBS), "kept-", kept.map((k) => k.key));
  await done(tx);
  return kept;
});

/** The keys of the blobs a pointer names: the current checkpoint, the dataset, the kept copies. */
async function namedKeys(meta, { kept = true } = {}) {
  const pointers = [await request(meta.get("checkpoint")), await request(meta.get("dataset")), ...(kept ? (await request(meta.get("kept"))) ?? [] : [])];
  return pointers.map((p) => p?.key).filter(Boolean);
}

/**
 * Removes every kept copy, and any bytes no pointer names (a write a closed tab never switched
 * to); the current checkpoint and the stored dataset stay. Returns how many blobs went.
 */
export const removeKept = () => serially(async () => {
  const db = await open();
  const tx = db.transaction([META, BLOBS], "readwrite");
  const meta = tx.objectStore(META);
  const live = await namedKeys(meta, { kept: false });
  // Deletions only: a store already over its quota may still free space.
  meta.delete("kept");
  const removed = await dropBlobsBut(tx.objectStore(BLOBS), "", live);
  await done(tx);
  return removed;
});

/**
 * Deletes the bytes no pointer names: a checkpoint, kept copy or dataset written by a tab that
 * crashed (or was closed) after the write's first transaction and before its switch. Nothing
 * else would ever name them, and they count against the quota. Run at a start, under the lock
 * (storage.js): another tab's write in flight would look the same. Returns their keys.
 */
export const dropOrphans = () => serially(async () => {
  const db = await open();
  const tx = db.transaction([META, BLOBS], "readwrite");
  const blobs = tx.objectStore(BLOBS);
  const live = await namedKeys(tx.objectStore(META));
  const orphans = (await request(blobs.getAllKeys())).filter((key) => !live.includes(key));
  for (const key of orphans) blobs.delete(key);
  await done(tx);
  return orphans;
});

/** Deletes the blobs whose key starts with `prefix`, except `keys`; returns how many. */
async function dropBlobsBut(blobs, prefix, keys) {
  const doomed = (await request(blobs.getAllKeys())).filter((old) => old.startsWith(prefix) && !keys.includes(old));
  for (const old of doomed) blobs.delete(old);
  return doomed.length;
}

/** Stores the shards `{names, buffers}`; resolves the key checkpoints name them by. */
export const saveDataset = (d) => putAtomically("dataset", d, { names: d.names });
/** The stored shards `{names, buffers, key}`, or null. */
export async function loadDataset() {
  const d = await getCurrent("dataset");
  return d ? { ...d.value, key: d.key } : null;
}
