// Energies: real images vs uniform noise vs samples (histogram and AUROC), scoring an image
// file, and — where the model has a classifier (a stored probe or a class head) — classifying
// images and the val split, saying which classifier answered.
import { drawHistogram } from "./charts.js";
import { $, imageFileRgba, show } from "./ui.js";
import { call, evaluationSplit, onRefresh, state } from "./session.js";

async function scoreAll() {
  const button = $("score-btn");
  button.disabled = true;
  show($("energy-error"), "");
  try {
    let real = [];
    if (state.hasData) {
      real = Array.from(await call("scoreSplit", evaluationSplit(), 512));
    }
    const noise = Array.from(await call("scoreNoise", 256));
    const gen = await call("generate", 64, Number($("gen-steps").value), 0, undefined);
    const fake = Array.from(await call("scoreRgba", gen.samples, gen.count));
    const groups = [
      { label: "real images", color: "#2e8a4a", values: real },
      { label: "uniform noise", color: "#888", values: noise },
      { label: "samples", color: "#b0502a", values: fake },
    ].filter((g) => g.values.length);
    drawHistogram($("chart-hist"), groups);
    $("auroc").textContent = real.length
      ? `AUROC real vs noise: ${(await call("auroc", Float32Array.from(real), Float32Array.from(noise))).toFixed(4)} (1 = every real image has lower energy than every noise image; ${real.length} real, ${noise.length} noise)`
      : "Load a dataset to compare real images with noise.";
  } catch (err) {
    show($("energy-error"), err.message);
  } finally {
    button.disabled = state.running || !state.model?.ready;
  }
}

async function scoreImageFile(file) {
  const rgba = await imageFileRgba(file, state.side);
  const [e] = await call("scoreRgba", rgba, 1);
  $("score-result").textContent = `${file.name}: E = ${e.toFixed(4)} (resized to ${state.side}×${state.side})`;
}

/** Who answers, in a visitor's words. */
function classifierLabel(kind) {
  return kind === "probe" ? "a linear probe on the net's features" : "the model's class head";
}

async function classifyImageFile(file) {
  const rgba = await imageFileRgba(file, state.side);
  const probs = Array.from(await call("classifyRgba", rgba, 1));
  const ranked = probs.map((p, k) => [p, state.model.class_names[k]]).sort((a, b) => b[0] - a[0]);
  $("classify-result").textContent =
    `${file.name}: ${ranked.slice(0, 3).map(([p, n]) => `${n} ${(100 * p).toFixed(1)} %`).join(", ")} (by ${classifierLabel(state.model.classifier)})`;
}

async function classifySplit() {
  try {
    const r = await call("classifySplit", evaluationSplit(), 5000);
    const majority = state.model.class_names[r.majority_class];
    $("classify-result").textContent =
      `Accuracy on ${r.rows} ${r.split} images: ${(100 * r.accuracy).toFixed(1)} % by ${classifierLabel(r.classifier)} — always answering the most common class (${majority}) gets ${(100 * r.majority_baseline).toFixed(1)} %.`;
  } catch (err) {
    $("classify-result").textContent = err.message;
  }
}

export function setupEnergy() {
  onRefresh(() => {
    $("score-btn").disabled = state.running || !state.model?.ready;
    $("classify-box").hidden = !state.model?.classifier;
    $("classify-btn").disabled = state.running || !state.hasData;
  });
  $("score-btn").onclick = scoreAll;
  $("score-file").onchange = (e) => e.target.files[0] && scoreImageFile(e.target.files[0]).catch((err) => show($("energy-error"), err.message));
  $("classify-btn").onclick = classifySplit;
  $("classify-file").onchange = (e) => e.target.files[0] && classifyImageFile(e.target.files[0]).catch((err) => ($("classify-result").textContent = err.message));
}
