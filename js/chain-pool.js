// A pool of chain helpers for the engine's worker: K workers, each its own instance of the
// package's wasm (chain-worker.js). The engine cuts every Langevin run on the CPU into K + 1
// shares (the core decides the cut and seeds each chain, so images do not depend on K), hands
// K of them here and runs the last itself. A helper that dies or traps is replaced and its
// share rerun; a share that fails twice, that finds no helper started yet, or that waits when
// the pool gives up on its last helper, is refused and the engine runs it itself — a run never
// stops because of a helper.

/** Shares are copied, not transferred, to a helper: a dead helper's share is sent again. */
export class ChainPool {
  #helpers = [];
  #queue = [];
  #startFailures = 0;
  #closed = false;
  #killNext = false;
  /** Helpers replaced after dying or trapping. */
  replaced = 0;
  /** Shares run by helpers. */
  shares = 0;
  /** Largest wasm memory a helper has reported, in bytes. */
  peakHeapBytes = 0;

  #size;

  /** Helpers start with the first share asked for, after the call that asked has run here: a
   * page's first samples do not wait for (or compete with) K more compiles of the wasm. */
  constructor(size) {
    this.#size = size;
  }

  get size() {
    return this.#size;
  }

  /** Helpers started and able to take shares. */
  get ready() {
    return this.#helpers.filter((h) => h.ready).length;
  }

  /** Runs `share` on a helper: resolves with `{finals, frames}`. */
  run(share) {
    if (this.#closed) return Promise.reject(new Error("the chain pool is closed"));
    if (this.#helpers.length === 0) setTimeout(() => this.#startHelpers(), 0);
    if (this.ready === 0) return Promise.reject(new Error("no chain helper has started yet"));
    return new Promise((resolve, reject) => {
      this.#queue.push({ share, resolve, reject, attempts: 0 });
      this.#pump();
    });
  }

  /** Fault drill (the tests use it): the helper that takes the next share is killed as soon as
   * it has it, as if it crashed mid-share; the pool must replace it and rerun the share. */
  killNextShare() {
    this.#killNext = true;
  }

  terminate() {
    this.#closed = true;
    for (const h of this.#helpers) h.worker.terminate();
    for (const t of this.#queue.splice(0)) t.reject(new Error("the chain pool is closed"));
  }

  #startHelpers() {
    if (this.#closed || this.#helpers.length > 0) return;
    for (let slot = 0; slot < this.#size; slot++) this.#spawn(slot);
  }

  #spawn(slot) {
    // Written out in full so bundlers see the helper worker and bundle it with the wasm.
    const worker = new Worker(new URL("./chain-worker.js", import.meta.url), { type: "module" });
    const helper = { worker, slot, ready: false, task: null };
    worker.onmessage = ({ data }) => {
      if (data.ready) {
        helper.ready = true;
        this.#startFailures = 0;
        this.#pump();
        return;
      }
      if (!data.ok && data.trapped) {
        this.#fail(helper, data.error);
        return;
      }
      const task = helper.task;
      helper.task = null;
      if (task) {
        if (data.ok) {
          this.shares += 1;
          this.peakHeapBytes = Math.max(this.peakHeapBytes, data.heapBytes ?? 0);
          task.resolve(data.result);
        } else {
          task.reject(new Error(data.error));
        }
      }
      this.#pump();
    };
    worker.onerror = (e) => {
      e.preventDefault?.();
      this.#fail(helper, e.message ?? "the helper failed");
    };
    this.#helpers[slot] = helper;
  }

  #fail(helper, reason) {
    if (this.#helpers[helper.slot] !== helper) return;
    helper.worker.terminate();
    const task = helper.task;
    helper.task = null;
    if (!helper.ready) this.#startFailures += 1;
    // Helpers that cannot even start (a blocked script, no memory) are not respawned forever.
    const respawn = this.#startFailures < 3 && !this.#closed;
    if (respawn) {
      this.replaced += 1;
      this.#spawn(helper.slot);
    } else {
      helper.ready = false;
    }
    if (task) {
      // Rerun on the replacement (or another helper) once; then the engine runs it itself.
      task.attempts += 1;
      if (task.attempts >= 2 || !respawn) task.reject(new Error(`a chain helper failed: ${reason}`));
      else this.#queue.unshift(task);
    }
    // Given up with no helper left to take them, waiting shares would wait for ever (and the
    // engine with them): back to the engine they go.
    if (!respawn && this.ready === 0) {
      for (const t of this.#queue.splice(0)) t.reject(new Error(`no chain helper could be started to run it: ${reason}`));
    }
    this.#pump();
  }

  #pump() {
    for (const helper of this.#helpers) {
      if (!helper.ready || helper.task || this.#queue.length === 0) continue;
      helper.task = this.#queue.shift();
      helper.worker.postMessage(helper.task.share);
      if (this.#killNext) {
        this.#killNext = false;
        this.#fail(helper, "killed by the fault drill");
      }
    }
  }
}
