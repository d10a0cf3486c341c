// Checkpoints and the last dataset, kept in IndexedDB so a reload can resume. One transaction
// per save: IndexedDB commits it whole or not at all, so a crash never leaves half a checkpoint.
const DB = "dermaebm", STORE = "kv";

function open() {
  return new Promise((ok, fail) => {
    const req = indexedDB.open(DB, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE);
    req.onsuccess = () => ok(req.result);
    req.onerror = () => fail(req.error);
  });
}

async function put(key, value) {
  const db = await open();
  return new Promise((ok, fail) => {
    const tx = db.transaction(STORE, "readwrite");
    tx.objectStore(STORE).put(value, key);
    tx.oncomplete = () => ok();
    tx.onerror = tx.onabort = () => fail(tx.error);
  });
}

async function get(key) {
  const db = await open();
  return new Promise((ok, fail) => {
    const req = db.transaction(STORE).objectStore(STORE).get(key);
    req.onsuccess = () => ok(req.result ?? null);
    req.onerror = () => fail(req.error);
  });
}

export const saveCheckpoint = (c) => put("checkpoint", c);
export const loadCheckpoint = () => get("checkpoint");
export const saveDataset = (d) => put("dataset", d);
export const loadDataset = () => get("dataset");
