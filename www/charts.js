// Training curves and the energy histogram, drawn with uPlot (served from the site itself).
import uPlot from "./vendor/uplot/uPlot.esm.js";
import { tickLabels } from "./ui.js";

const series = { iter: [], loss: [], cd: [], reg: [], cls: [], er: [], ef: [], lr: [] };
const charts = {};

// The section's inner width, not the chart's container: a container widened by its chart
// would never let the chart shrink again on a narrower window.
function width(el) {
  const section = el.closest("section");
  const style = getComputedStyle(section);
  return Math.max(200, section.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight) - 4);
}

function makeChart(el, title, labels, colors, yLabel, format = (v) => v.toPrecision(3)) {
  return new uPlot(
    {
      title, width: width(el), height: 180,
      scales: { x: { time: false } },
      axes: [{ label: "iteration" }, { label: yLabel, size: 70, values: (u, vals) => vals.map(format) }],
      series: [{ label: "iteration" }, ...labels.map((label, i) => ({ label, stroke: colors[i], width: 1.5, value: (u, v) => (v == null ? "–" : format(v)) }))],
    },
    [[], ...labels.map(() => [])],
    el,
  );
}

export function setupCharts() {
  charts.loss = makeChart(document.getElementById("chart-loss"), "Loss terms", ["loss", "CD", "reg", "class CE"], ["#8a3b2e", "#2e6f8a", "#7a8a2e", "#6a3d9a"], "value");
  charts.energy = makeChart(document.getElementById("chart-energy"), "Mean energy", ["E(real)", "E(fake)"], ["#2e8a4a", "#b0502a"], "energy");
  charts.lr = makeChart(document.getElementById("chart-lr"), "Learning rate", ["lr"], ["#555"], "lr", (v) => v.toExponential(2));
  pushStats(null);
  addEventListener("resize", () => {
    for (const c of [...Object.values(charts), histChart].filter(Boolean)) c.setSize({ width: width(c.root), height: c.height });
  });
}

export function clearCharts() {
  for (const k of Object.keys(series)) series[k].length = 0;
  pushStats(null);
}

export function pushStats(s) {
  if (s) {
    series.iter.push(s.iteration);
    series.loss.push(s.loss); series.cd.push(s.cd); series.reg.push(s.reg); series.cls.push(s.class_loss ?? null);
    series.er.push(s.energy_real); series.ef.push(s.energy_fake); series.lr.push(s.lr);
  }
  charts.loss.setData([series.iter, series.loss, series.cd, series.reg, series.cls]);
  // How many iterations the charts hold (what the tests check was drawn).
  document.getElementById("chart-loss").dataset.points = String(series.iter.length);
  charts.energy.setData([series.iter, series.er, series.ef]);
  charts.lr.setData([series.iter, series.lr]);
}

let histChart = null;
/** Histogram of energies of several groups: [{label, color, values}], over common bins. */
export function drawHistogram(el, groups, bins = 40) {
  const all = groups.flatMap((g) => g.values);
  const lo = Math.min(...all), hi = Math.max(...all), w = (hi - lo) / bins || 1;
  const counts = (values) => {
    const h = new Array(bins).fill(0);
    for (const x of values) h[Math.min(bins - 1, Math.floor((x - lo) / w))]++;
    return h;
  };
  const xs = Array.from({ length: bins }, (_, i) => lo + (i + 0.5) * w);
  histChart?.destroy();
  histChart = new uPlot(
    {
      title: "Energy histogram", width: width(el), height: 200, scales: { x: { time: false } },
      // Tick labels with as many decimals as their spacing needs (energies may span 0.001).
      axes: [{ label: "energy E(x)", values: (_, ticks) => tickLabels(ticks) }, { label: "images" }],
      series: [{ label: "E" }, ...groups.map((g) => ({ label: g.label, stroke: g.color, width: 1.5, paths: uPlot.paths.stepped({ align: 0 }) }))],
    },
    [xs, ...groups.map((g) => counts(g.values))],
    el,
  );
}
