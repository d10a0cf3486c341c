// Training controls: settings, start / pause / resume / stop, live statistics, checkpoints to
// IndexedDB (the current one and a few kept earlier ones to go back to), resuming after a
// reload (a damaged stored checkpoint is reported and an older kept one offered), and
// recovering when the engine is lost. A run holds the site's training lock (storage.js), so
// that only one tab writes checkpoints; one that does not fit pauses training with a message.
// Every checkpoint names the stored data it was trained on: a resume never trains a checkpoint
// on other data (the run's own may not have fitted in the storage).
import { drawGrid } from "./pkg/grid.js";
import { clearCharts, pushStats } from "./charts.js";
import { loadDataset } from "./data.js";
import * as store from "./store.js";
import { $, download, seconds, show } from "./ui.js";
import { call, onEngineEvent, onRefresh, refresh, startEngine, state } from "./session.js";
import { OTHER_TAB, afterCheckpointWrite, didNotFit, holdTrainingLock, letGoOfTrainingLock, showDidNotFit, showUsage, withStoreLock } from "./storage.js";

/** The form's number fields by recipe; a dotted name is a nested setting (`recovery.levels`). */
const FIELDS = {
  common: ["batch_size", "lr", "seed"],
  denoising: ["denoising.levels", "denoising.blocks"],
  recovery: ["recovery.levels", "recovery.steps"],
  contrastive: ["langevin_steps", "step_size", "noise_std", "alpha", "buffer_size"],
};
const LABELS = {
  batch_size: "Batch", langevin_steps: "Langevin steps", step_size: "Step size", noise_std: "Noise σ", alpha: "α", lr: "Learning rate",
  buffer_size: "Buffer size", seed: "Seed", "recovery.levels": "Noise levels", "recovery.steps": "Langevin steps per level",
  "denoising.levels": "Levels of the sampling walk", "denoising.blocks": "Residual blocks per stage",
};
const RECIPE_NAMES = {
  denoising: "the denoising-score-matching recipe",
  recovery: "the recovery-likelihood recipe",
  contrastive: "the contrastive (reference) recipe",
};
/** The run in this tab: when its loop started, and the key of the stored data it trains on
 * (null: its data is not stored). */
const run = { started: 0, startIter: 0, dataset: null };
let kept = [];
/** The checkpoint writes of this tab, one after another; the lock is let go once they are done. */
let checkpointWrites = Promise.resolve();

const fieldsOf = (recipe) => [...FIELDS.common, ...FIELDS[recipe]];
const getPath = (config, path) => path.split(".").reduce((o, k) => o?.[k], config);
function setPath(config, path, value) {
  const keys = path.split(".");
  const last = keys.pop();
  const parent = keys.reduce((o, k) => (o[k] = { ...o[k] }), config);
  parent[last] = value;
}

/** Shows `config` in the form (its recipe's fields only). */
export function fillSettings(config) {
  const form = $("settings");
  const recipe = config.recipe ?? "contrastive";
  form.elements.recipe.value = recipe;
  for (const f of fieldsOf(recipe)) form.elements[f].value = getPath(config, f);
  for (const label of form.querySelectorAll("[data-recipe]")) label.hidden = label.dataset.recipe !== recipe;
  $("conditional").checked = config.classes > 0;
  $("augment-real").checked = Boolean(config.augment_real);
  describeStart();
}

/** The visitor picked a recipe in the form (until then a new network trains with the core's default). */
let recipePicked = false;

/** The configuration Start begins from: the current model's when continuing it, else the
 * defaults of the recipe picked in the form (a new network never inherits a trained model's
 * late-stage settings). */
async function baseConfig() {
  if ($("continue-model").checked && state.model?.ready) return { ...state.config };
  // Until the visitor picks a recipe, the core's choice for a new network (one rule, in the core).
  return JSON.parse(await call("defaultConfig", recipePicked ? $("settings").elements.recipe.value : undefined));
}

/** Fills the form with what Start would use. */
export async function fillForStart() {
  fillSettings(await baseConfig());
}

/** Says in words what Start will do. */
function describeStart() {
  const continuing = $("continue-model").checked && state.model?.ready;
  const recipe = $("settings").elements.recipe.value;
  $("start-what").textContent = continuing
    ? `Start continues the current model from update ${(state.model.iteration ?? 0).toLocaleString("en")} with its own settings (${RECIPE_NAMES[state.config?.recipe ?? "contrastive"]}).`
    : `Start trains a new network with ${RECIPE_NAMES[recipe]} and the settings above.`;
}

function labelledClasses() {
  const train = state.summary?.splits.find((s) => s.split === "train") ?? state.summary?.splits[0];
  return train?.labelled ? train.class_counts.length : 0;
}

/** Sends the form's settings to the engine; shows what is wrong instead when it refuses. */
async function applySettings() {
  const config = await baseConfig();
  config.recipe = $("settings").elements.recipe.value;
  for (const f of fieldsOf(config.recipe)) {
    const raw = $("settings").elements[f].value;
    const v = Number(raw);
    if (raw.trim() === "" || !Number.isFinite(v)) {
      show($("settings-error"), `${LABELS[f]} (${f}) must be a number`);
      return false;
    }
    setPath(config, f, v);
  }
  // The data decides the image shape.
  if (state.summary) {
    config.channels = state.summary.channels ?? config.channels;
    config.image_size = state.summary.image_size?.[0] ?? config.image_size;
  }
  if ($("conditional").checked) {
    config.classes = labelledClasses();
    if (!config.classes) {
      show($("settings-error"), "Class-conditional training needs labelled data: the loaded split has no labels.");
      return false;
    }
  } else {
    config.classes = 0;
  }
  config.augment_real = $("augment-real").checked;
  const every = Number($("ckpt-every").value);
  if (!Number.isInteger(every) || every < 1) {
    show($("settings-error"), "Checkpoint every must be a whole number of iterations, at least 1");
    return false;
  }
  try {
    // The worker pushes the model's description (session.js) before it answers.
    await call("setConfig", JSON.stringify(config));
    show($("settings-error"), "");
    return true;
  } catch (err) {
    show($("settings-error"), err.message);
    return false;
  }
}

async function runLoop() {
  // A new stretch of training: what was said about the last one (a rollback, an error, a
  // restart) no longer holds.
  show($("train-notice"), "");
  show($("train-error"), "");
  run.started = performance.now();
  // Set by the first iteration: before it, the engine reports the model it started from, which
  // for a new run is not the run's (iteration 0) but the one shown until then.
  run.startIter = null;
  state.running = true;
  refresh();
  // The engine's loop owns the cadence: checkpoints every N, one at the pause, live samples,
  // and which checkpoints to keep a copy of (KEEP_SPACING checkpoints after the newest kept).
  const every = Number($("ckpt-every").value) || 25;
  await call("trainLoop", { sampleEvery: 5, checkpointEvery: every, keepEvery: store.KEEP_SPACING * every, keptAt: kept.at(-1)?.iteration ?? 0 });
}

/** Runs `begin`, which starts (or resumes) a run, holding the training lock: refused when
 * another tab trains; the lock goes again if no run came of it. */
async function asTrainer(begin) {
  if (!(await holdTrainingLock())) {
    show($("train-error"), OTHER_TAB);
    return;
  }
  try {
    await begin();
  } catch (err) {
    // A DOMException from storage may carry only its name.
    show($("train-error"), err.message || err.name);
  } finally {
    if (!state.running) letGoOfTrainingLock(checkpointWrites);
  }
}

function startTraining(continueModel) {
  show($("train-error"), "");
  show($("train-notice"), "");
  return asTrainer(async () => {
    if (!(await applySettings())) return;
    await call("startTraining", continueModel);
    state.trainingSetUp = true;
    clearCharts();
    await rememberDataset();
    // Kept states later than where this run starts belong to a run it replaces.
    showKept(await store.keepOnlyUpTo(continueModel ? await call("iteration") : -Infinity));
    await runLoop();
  });
}

/** Stores the run's data beside its checkpoints (a reload resumes with it) and makes it the
 * data this run's checkpoints name. Written when a run starts, under the lock, not on upload: a
 * tab that only looks must not replace the data of a run another tab is training. Data that
 * does not fit is said so; the checkpoints then name none, and a resume asks for the data
 * rather than take whatever was stored before. */
async function rememberDataset() {
  run.dataset = null;
  if (!state.dataset) return;
  try {
    run.dataset = await store.saveDataset(state.dataset);
  } catch (err) {
    if (!store.isQuotaError(err)) throw err;
    showDidNotFit(`${await didNotFit("The training data")} Training goes on, but after a reload its checkpoints need the data loaded again.`, "action");
  }
}

const DATA_NOT_STORED = "The saved run's training data is not stored here (it did not fit in this browser's storage, or other data replaced it): load it again, then press “Resume it”.";

function resumeSaved() {
  show($("train-error"), "");
  return asTrainer(async () => {
    const saved = await store.loadCheckpoint();
    if (!saved) throw new Error("no saved run was found");
    await resumeFrom(saved);
  });
}

/** A damaged file, as the engine words its refusal (src/weights.rs). */
const DAMAGED = /damaged|checksum|truncated|not a weights file|NaN or infinite/i;

/** Loads stored checkpoint bytes into the engine; a damaged record is reported with the next
 * older kept copy offered (false), nothing deleted. Other failures throw. */
async function loadStored(saved) {
  try {
    await call("loadWeights", saved.bytes);
    $("damaged").hidden = true;
    return true;
  } catch (err) {
    if (!DAMAGED.test(err.message)) throw err;
    await offerOlder(saved.iteration, err.message);
    return false;
  }
}

/** Says that the checkpoint of update `iteration` is damaged, and offers the newest kept copy before it. */
async function offerOlder(iteration, reason) {
  const older = (await store.keptCheckpoints()).filter((k) => k.iteration < iteration).at(-1);
  $("damaged-text").textContent = `The stored checkpoint of update ${iteration} could not be loaded: ${reason}. Nothing was deleted. ${
    older
      ? `The next older kept checkpoint is from update ${older.iteration}; resuming from it makes it the current checkpoint in place of the damaged one.`
      : "No older checkpoint is kept here: load a weights file or start a new run."}`;
  const button = $("older-btn");
  button.hidden = !older;
  if (older) {
    button.textContent = `Resume from update ${older.iteration}`;
    button.dataset.iteration = String(older.iteration);
    button.onclick = () => resumeKept(older);
  }
  $("damaged").hidden = false;
  $("resume-offer").hidden = true;
}

/** Resumes from the kept copy `k` (offered in place of a damaged checkpoint). */
function resumeKept(k) {
  show($("train-error"), "");
  return asTrainer(async () =>
    resumeFrom({ bytes: await store.loadKept(k.key), iteration: k.iteration, config: k.config, dataset: k.dataset }, { replacing: true }));
}

/** Loads a stored checkpoint `{bytes, iteration, dataset}` and the stored data it names, and
 * trains on from it. Stored data it does not name is not its own (its run's data did not fit,
 * or a later run's replaced it): the data loaded in the page is used then, and stored, or the
 * visitor is asked for it. A checkpoint stored before checkpoints named their data names none
 * (`undefined`): the stored data was its own. `replacing`: the checkpoint is a kept copy that
 * becomes the current one. */
async function resumeFrom(saved, { replacing = false } = {}) {
  const data = await store.loadDataset();
  const own = data !== null && (saved.dataset === undefined || saved.dataset === data.key);
  if (own) await loadDataset(data.names, data.buffers);
  if (!(await loadStored(saved))) return;
  fillSettings(state.config);
  if (!own && !state.hasData) {
    show($("train-error"), DATA_NOT_STORED);
    return;
  }
  if (own) run.dataset = data.key;
  else await rememberDataset();
  if (replacing) {
    await store.saveCheckpoint({ bytes: saved.bytes, iteration: saved.iteration, config: state.config, savedAt: Date.now(), dataset: run.dataset });
  }
  $("resume-offer").hidden = true;
  await call("startTraining", true);
  state.trainingSetUp = true;
  showKept(await store.keepOnlyUpTo(saved.iteration));
  $("iter").textContent = String(saved.iteration);
  await runLoop();
}

/** After the engine was lost: a new engine on `backend`, the data and the last checkpoint back in it. */
async function restart(backend) {
  $("lost").hidden = true;
  $("backend").textContent = "Restarting…";
  try {
    await startEngine(backend);
    reportBackend();
    if (state.dataset) await loadDataset(state.dataset.names, state.dataset.buffers);
    const saved = await store.loadCheckpoint();
    if (saved && !(await loadStored(saved))) {
      show($("train-notice"), "Restarted. The stored checkpoint is damaged: see above.");
    } else if (saved) {
      fillSettings(state.config);
      if (state.hasData) {
        await call("startTraining", true);
        state.trainingSetUp = true;
        // Another tab may be training: then its kept copies are not this tab's to trim.
        showKept(await withStoreLock(() => store.keepOnlyUpTo(saved.iteration)).catch(() => kept));
      }
      $("iter").textContent = String(saved.iteration);
      show($("train-notice"), `Restarted on ${state.backend.backend === "cpu" ? "the CPU" : "WebGPU"} from the checkpoint at iteration ${saved.iteration}.${state.hasData ? " Press Resume to continue training." : ""}`);
    } else {
      show($("train-notice"), "Restarted. No checkpoint was saved yet: start training again.");
    }
  } catch (err) {
    show($("train-error"), `The engine could not be restarted: ${err.message}`);
  } finally {
    refresh();
  }
}

function showKept(list) {
  kept = list;
  const dd = $("kept");
  dd.replaceChildren();
  if (!kept.length) dd.textContent = "none yet";
  for (const k of kept) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "kept-btn";
    b.dataset.iteration = String(k.iteration);
    b.textContent = String(k.iteration);
    b.title = `Go back to iteration ${k.iteration} (saved ${new Date(k.savedAt).toLocaleString()})`;
    b.setAttribute("aria-label", `Go back to iteration ${k.iteration}`);
    b.disabled = state.running || state.otherTabTrains;
    b.onclick = () => goBack(k);
    dd.append(b);
  }
  $("remove-kept-btn").disabled = !kept.length || state.otherTabTrains;
}

/** Deletes the kept copies (not the current checkpoint) to make room, and shows the space now used. */
async function removeKeptCopies() {
  try {
    await withStoreLock(() => store.removeKept());
    showKept([]);
    show($("train-notice"), "The kept checkpoints were removed; the current checkpoint stays.");
  } catch (err) {
    show($("train-error"), `The kept checkpoints could not be removed: ${err.message}`);
  } finally {
    await showUsage();
  }
}

/** Makes a kept earlier checkpoint the model and the current checkpoint, ready to continue. */
async function goBack(k) {
  show($("train-error"), "");
  try {
    const bytes = await store.loadKept(k.key);
    await call("loadWeights", bytes);
    fillSettings(state.config);
    state.trainingSetUp = false;
    $("continue-model").checked = true;
    await withStoreLock(() => store.saveCheckpoint({ bytes, iteration: k.iteration, config: state.config, savedAt: Date.now(), dataset: k.dataset }));
    $("iter").textContent = String(k.iteration);
    $("ckpt").textContent = `iteration ${k.iteration} (gone back to)`;
    show($("train-notice"), `Back at iteration ${k.iteration}. Change the settings if needed (after a drift: a lower learning rate) and press Start to continue from here.`);
  } catch (err) {
    show($("train-error"), `Could not go back to iteration ${k.iteration}: ${err.message}`);
  } finally {
    refresh();
  }
}

/** Stores a checkpoint the engine sent (and, when due, a kept copy of it). */
async function writeCheckpoint(e) {
  const c = { bytes: e.bytes, iteration: e.iteration, config: state.config, savedAt: Date.now(), dataset: run.dataset };
  try {
    await store.saveCheckpoint(c);
  } catch (err) {
    return checkpointDidNotFit(err, c);
  }
  $("ckpt").textContent = `iteration ${e.iteration} (${e.reason}, ${(e.bytes.length / 1e6).toFixed(1)} MB)`;
  await afterCheckpointWrite();
  // The engine's checkpoint policy says which checkpoints to keep a copy of.
  if (!e.keep) return;
  try {
    showKept(await store.keepCheckpoint(c));
    if ($("storage-error").dataset.until === "kept") showDidNotFit("");
  } catch (err) {
    if (!store.isQuotaError(err)) throw err;
    // The current checkpoint is stored: training can go on without the copy. The message stays
    // until a kept copy is stored again (the next checkpoint alone does not bring it back).
    showDidNotFit(`${await didNotFit(`The kept copy of the checkpoint of update ${c.iteration}`)} Training goes on; the checkpoint itself is stored.`, "kept");
  }
}

/** A checkpoint that did not fit: the earlier one stays current (the write failed whole), and
 * training pauses so that nothing more is trained that could not be kept. Other errors throw. */
async function checkpointDidNotFit(err, c) {
  if (!store.isQuotaError(err)) throw err;
  if (state.running) call("pause").catch(() => {});
  const current = await store.checkpointInfo().catch(() => null);
  const still = current ? ` The checkpoint of update ${current.iteration} is still the current one (a reload resumes from it).` : "";
  showDidNotFit(`${await didNotFit(`The checkpoint of update ${c.iteration}`)} Training is paused.${still} Resume trains on and tries again at the next checkpoint.`);
  await showUsage();
}

/** What to do after the guard stopped a run (drifted, or diverged again and again): go back to a
 * kept checkpoint when there is one, else lower the learning rate and go on, or start anew. */
function wayOut(message) {
  if (!/drifted|diverged/.test(message)) return "";
  if (kept.length) {
    return " Earlier checkpoints are kept: press one under “Go back to” (below) to return to a state from before the trouble, then lower the learning rate.";
  }
  const every = Number($("ckpt-every").value) || 25;
  return ` No earlier checkpoint is kept yet (a copy is kept every ${store.KEEP_SPACING * every} updates): lower the learning rate and press Start with “Continue from the current model” ticked to train on from the model as it is, or start a new network.`;
}

export function reportBackend() {
  const b = state.backend;
  const threads = state.helpersRunning > 0 ? `, Langevin on ${state.helpersRunning + 1} threads (${state.helpersRunning} helper workers)` : ", one thread";
  $("backend").textContent = b.backend === "cpu" ? `Backend: CPU (burn flex in WebAssembly${threads})` : `Backend: WebGPU — ${b.adapter}`;
  $("helpers-setting").hidden = b.backend !== "cpu";
  $("helpers-input").value = String(state.helpersRunning);
  $("backend").dataset.backend = b.backend;
  const override = b.note.includes("software") ? " To use it anyway, open this page with ?backend=gpu." : "";
  show($("backend-note"), b.note ? b.note + override : "");
}

async function onEngineLost({ message }) {
  state.running = false;
  state.trainingSetUp = false;
  letGoOfTrainingLock(checkpointWrites);
  const saved = await store.checkpointInfo().catch(() => null);
  $("lost-text").textContent = `${message} ${saved ? `The last checkpoint (iteration ${saved.iteration}) is kept.` : "No checkpoint had been saved yet."} Restart the engine to continue.`;
  $("lost").hidden = false;
  refresh();
}

export async function offerSavedRun() {
  // Bytes a crash left unnamed (storage.js's lock: not while another tab writes).
  await withStoreLock(() => store.dropOrphans()).catch(() => {});
  showKept(await store.keptCheckpoints().catch(() => []));
  const saved = await store.checkpointInfo().catch(() => null);
  if (!saved) return;
  const when = saved.savedAt ? ` on ${new Date(saved.savedAt).toLocaleString()}` : "";
  $("resume-text").textContent = `A saved run was found (iteration ${saved.iteration}${when}).`;
  $("resume-offer").hidden = false;
}

export function setupTraining() {
  onEngineEvent("stats", ({ stats: s }) => {
    if (s.rolled_back) {
      show($("train-notice"), `Training diverged; rolled back to iteration ${s.iteration} and lowered the learning rate to ${s.lr.toExponential(2)}.`);
      return;
    }
    pushStats(s);
    $("iter").textContent = String(s.iteration);
    const elapsed = (performance.now() - run.started) / 1000;
    run.startIter ??= s.iteration - 1;
    const done = s.iteration - run.startIter;
    $("speed").textContent = `${(done / elapsed).toFixed(3)} it/s (${s.seconds.toFixed(2)} s per iteration)`;
    $("elapsed").textContent = seconds(elapsed);
  });
  onEngineEvent("samples", (e) => {
    drawGrid($("buffer-grid"), e.rgba, e.side, e.count, { columns: e.columns ?? 16 });
    $("buffer-grid").dataset.levels = (e.levels ?? []).join(",");
    $("live-hint").textContent = e.levels?.length
      ? `Each row walks from noise (level ${e.levels[0]}) down to level 0 with the model's averaged weights.`
      : "The newest chains of the replay buffer.";
  });
  // Queued at once (not after an await), so that letting go of the lock waits for this write.
  onEngineEvent("checkpoint", (e) => {
    checkpointWrites = checkpointWrites.then(() => writeCheckpoint(e)).catch((err) => show($("train-error"), `Could not save the checkpoint: ${err.message}`));
  });
  onEngineEvent("training", (e) => {
    state.running = e.running;
    // The run's model arrived just before (a `model` event, session.js).
    if (!e.running) letGoOfTrainingLock(checkpointWrites);
    refresh();
  });
  onEngineEvent("error", (e) => show($("train-error"), e.message + wayOut(e.message)));
  onEngineEvent("lost", onEngineLost);

  onRefresh(() => {
    describeStart();
    const r = state.running;
    // Another tab training owns the store: no run may start here (sampling still may).
    const other = state.otherTabTrains;
    $("start-btn").disabled = r || !state.hasData || other;
    $("pause-btn").disabled = !r;
    $("resume-btn").disabled = r || !state.trainingSetUp || other;
    $("resume-saved-btn").disabled = other;
    $("older-btn").disabled = r || other;
    $("remove-kept-btn").disabled = !kept.length || other;
    $("stop-btn").disabled = !r && !state.trainingSetUp;
    $("save-btn").disabled = r || !state.model?.ready;
    $("save-st-btn").disabled = r || !state.model?.ready;
    $("continue-model").disabled = r || !state.model?.ready;
    for (const b of document.querySelectorAll(".kept-btn")) b.disabled = r || other;
    // Unlabelled data cannot train a class-conditional model: untick the box rather than leave
    // it ticked and disabled.
    const labelled = labelledClasses();
    if (state.hasData && !labelled) $("conditional").checked = false;
    $("conditional").disabled = r || !labelled;
  });

  $("defaults-btn").onclick = async () => {
    fillSettings(JSON.parse(await call("defaultConfig", $("settings").elements.recipe.value)));
    $("ckpt-every").value = "25";
  };
  $("settings").elements.recipe.onchange = async () => {
    // Another recipe is another network: its defaults, and no continuing the current model.
    recipePicked = true;
    if (state.config?.recipe !== $("settings").elements.recipe.value) $("continue-model").checked = false;
    fillSettings(JSON.parse(await call("defaultConfig", $("settings").elements.recipe.value)));
  };
  $("continue-model").onchange = () => fillForStart().catch((err) => show($("settings-error"), err.message));
  $("start-btn").onclick = () => startTraining($("continue-model").checked);
  $("pause-btn").onclick = () => call("pause");
  $("resume-btn").onclick = () => asTrainer(runLoop);
  $("stop-btn").onclick = async () => {
    await call("pause");
    state.trainingSetUp = false;
    refresh();
  };
  $("save-btn").onclick = async () => {
    try {
      download(await call("saveWeights"), `dermaebm-${await call("iteration")}.debm`, "application/octet-stream");
    } catch (err) {
      show($("train-error"), err.message);
    }
  };
  $("save-st-btn").onclick = async () => {
    try {
      download(await call("saveSafetensors"), `dermaebm-${await call("iteration")}.safetensors`, "application/octet-stream");
    } catch (err) {
      show($("train-error"), err.message);
    }
  };
  $("weights-file").onchange = async (e) => {
    const f = e.target.files[0];
    if (!f) return;
    try {
      const info = await call("loadWeights", new Uint8Array(await f.arrayBuffer()));
      fillSettings(state.config);
      state.trainingSetUp = false;
      $("continue-model").checked = true;
      $("model-status").textContent = `Loaded ${f.name}: ${info.iteration} iterations${state.model.classes ? `, ${state.model.classes} classes` : ""}.`;
      show($("train-error"), "");
    } catch (err) {
      show($("train-error"), `${f.name}: ${err.message}`);
    } finally {
      e.target.value = "";
      refresh();
    }
  };
  $("resume-saved-btn").onclick = resumeSaved;
  $("remove-kept-btn").onclick = removeKeptCopies;
  $("helpers-input").onchange = async () => {
    const n = Math.max(0, Math.min(64, Number.parseInt($("helpers-input").value, 10) || 0));
    try {
      state.helpersRunning = await call("setHelpers", n);
      state.helpers = n;
    } catch (err) {
      show($("backend-note"), `The helpers were not changed: ${err.message}`);
    }
    reportBackend();
  };
  $("restart-gpu-btn").onclick = () => restart("gpu");
  $("restart-cpu-btn").onclick = () => restart("cpu");
}
