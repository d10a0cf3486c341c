// Checkpoints and the last dataset, kept in IndexedDB so that a reload (or a crash) can resume.
// A checkpoint is written new, then switched to: its bytes go under a fresh key in one
// transaction, and only a second transaction points "current" at them and drops the old ones.
// A reload or crash between the two leaves the previous checkpoint current and whole.
const DB = "dermaebm", VERSION = 2, BLOBS = "blobs", META = "meta";

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

/** Writes `value` under a fresh key, then makes it what `name` points to. */
async function putAtomically(name, value, summary = {}) {
  const db = await open();
  const key = `${name}-${Date.now()}-${Math.random().toString(36).slice(2)}`;
  const write = db.transaction(BLOBS, "readwrite");
  write.objectStore(BLOBS).put(value, key);
  await done(write);
  const swap = db.transaction([META, BLOBS], "readwrite");
  swap.objectStore(META).put({ key, ...summary }, name);
  // Everything else stored for this name is an older version or a write that never got switched to.
  const blobs = swap.objectStore(BLOBS);
  for (const old of await request(blobs.getAllKeys())) if (old.startsWith(`${name}-`) && old !== key) blobs.delete(old);
  await done(swap);
}

async function getCurrent(name) {
  const db = await open();
  const tx = db.transaction([META, BLOBS]);
  const pointer = await request(tx.objectStore(META).get(name));
  if (!pointer) return null;
  const value = await request(tx.objectStore(BLOBS).get(pointer.key));
  return value ? { ...pointer, value } : null;
}

/** `{bytes, iteration, config, savedAt}`. */
export const saveCheckpoint = (c) => putAtomically("checkpoint", c.bytes, { iteration: c.iteration, config: c.config, savedAt: c.savedAt });
export async function loadCheckpoint() {
  const c = await getCurrent("checkpoint");
  return c && { bytes: c.value, iteration: c.iteration, config: c.config, savedAt: c.savedAt };
}
/** What the current checkpoint is, without reading its bytes. */
export async function checkpointInfo() {
  const db = await open();
  return request(db.transaction(META).objectStore(META).get("checkpoint"));
}
export const saveDataset = (d) => putAtomically("dataset", d, { names: d.names });
export async function loadDataset() {
  return (await getCurrent("dataset"))?.value ?? null;
}
