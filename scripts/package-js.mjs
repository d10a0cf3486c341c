// Adds the JavaScript half of the package to wasm-pack's pkg/: the worker, the promise client,
// the grid helper and the <ebm-sampler> element, with their TypeScript types, listed in
// pkg/package.json so that pkg/ stays one self-contained ES-module package.
import { copyFileSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(fileURLToPath(import.meta.url), "../..");
const from = join(root, "js"), to = join(root, "pkg");
const files = readdirSync(from).filter((f) => f.endsWith(".js") || f.endsWith(".d.ts"));
for (const f of files) copyFileSync(join(from, f), join(to, f));

const manifest = JSON.parse(readFileSync(join(to, "package.json"), "utf8"));
manifest.files = [...new Set([...(manifest.files ?? []), ...files])];
manifest.files = [...new Set([...manifest.files, "dermaebm_bg.wasm.d.ts", "snippets/"])];
manifest.exports = {
  ".": { types: "./dermaebm.d.ts", default: "./dermaebm.js" },
  "./client": { types: "./client.d.ts", default: "./client.js" },
  "./ebm-sampler": { types: "./ebm-sampler.d.ts", default: "./ebm-sampler.js" },
  "./worker": "./worker.js",
  "./chain-worker": "./chain-worker.js",
  "./grid": { types: "./grid.d.ts", default: "./grid.js" },
  "./package.json": "./package.json",
};
// Modules that act when loaded (the element registers itself; workers run their loop).
manifest.sideEffects = ["./ebm-sampler.js", "./worker.js", "./chain-worker.js", "./snippets/*"];
manifest.keywords = ["energy-based model", "webgpu", "wasm", "dermatoscopy", "medmnist", "generative"];
writeFileSync(join(to, "package.json"), JSON.stringify(manifest, null, 2) + "\n");
console.log(`pkg/: added ${files.join(", ")}`);
