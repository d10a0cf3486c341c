// Assembles dist/: the deployable site, self-contained, with relative URLs only, so it works
// copied to any static host at any path (GitHub Pages project sites, buckets, `python3 -m
// http.server`): the pages, the wasm package, the shipped weights, the chart library and the
// bundled DermaMNIST sample. Run by scripts/build-site.sh after the package is built.
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { CSP, pagePolicy } from "./serve.mjs";

const root = resolve(fileURLToPath(import.meta.url), "../..");
const dist = join(root, "dist");
const copy = (from, to) => cpSync(join(root, from), join(dist, to), { recursive: true });

rmSync(dist, { recursive: true, force: true });
mkdirSync(dist);
copy("www", ".");
copy("pkg", "pkg");
mkdirSync(join(dist, "vendor/uplot"), { recursive: true });
for (const f of ["uPlot.esm.js", "uPlot.min.css"]) copy(`node_modules/uplot/dist/${f}`, `vendor/uplot/${f}`);
mkdirSync(join(dist, "weights"));
// What the pages fetch: the weights and their measured figures (weights/README.md has the rest).
for (const f of ["denoising.debm", "denoising-fid.json", "dermamnist.debm", "fid.json", "recovery.debm", "recovery-fid.json"]) if (existsSync(join(root, "weights", f))) copy(`weights/${f}`, `weights/${f}`);
mkdirSync(join(dist, "data"));
for (const f of ["dermamnist-ham10000-28-sample.npz", "README.md"]) copy(`data/${f}`, `data/${f}`);

// Every page states the same policy (a plain static host sends no header: the tag is it).
for (const page of readdirSync(dist).filter((f) => f.endsWith(".html"))) {
  if (pagePolicy(readFileSync(join(dist, page), "utf8")) !== CSP) throw new Error(`${page}: its Content-Security-Policy differs from index.html's`);
}
// Relative URLs only: an absolute path would break under a sub-path.
for (const file of readdirSync(dist).filter((f) => /\.(html|js|css)$/.test(f))) {
  const text = readFileSync(join(dist, file), "utf8");
  const absolute = text.match(/(?:src|href)="\/[^/"]|from "\/|fetch\("\//);
  if (absolute) throw new Error(`${file}: an absolute URL (${absolute[0]}…) would break under a sub-path`);
}
console.log(`dist/: ${readdirSync(dist).join(", ")}`);
