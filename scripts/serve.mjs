// Serves the site on localhost: www/ at /, plus the wasm package, the shipped weights and the
// chart library, with a Content-Security-Policy that forbids any other origin.
import { createServer } from "node:http";
import { readFileSync } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { extname, join, normalize, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(fileURLToPath(import.meta.url), "../..");
const mounts = [
  ["/pkg/", join(root, "pkg")],
  ["/weights/", join(root, "weights")],
  ["/data/", join(root, "data")],
  ["/vendor/uplot/", join(root, "node_modules/uplot/dist")],
  ["/", join(root, "www")],
];
const types = {
  ".html": "text/html; charset=utf-8", ".js": "text/javascript", ".mjs": "text/javascript",
  ".css": "text/css", ".wasm": "application/wasm", ".json": "application/json",
  ".png": "image/png", ".gif": "image/gif", ".svg": "image/svg+xml", ".bin": "application/octet-stream",
  ".debm": "application/octet-stream", ".npz": "application/octet-stream", ".ts": "text/plain", ".csv": "text/csv", ".md": "text/plain",
};
/** The site's Content-Security-Policy, from its one source: the `<meta>` tag of www/index.html
 * (what a plain static host enforces; embed.html carries the same, checked by the e2e suite).
 * The development server also sends it as a header. */
export const CSP = pagePolicy(readFileSync(join(root, "www/index.html"), "utf8"));

/** The policy a page's `<meta http-equiv="Content-Security-Policy">` states. */
export function pagePolicy(html) {
  const policy = html.match(/<meta http-equiv="Content-Security-Policy" content="([^"]+)">/)?.[1];
  if (!policy) throw new Error("the page has no Content-Security-Policy meta tag");
  return policy;
}

/** Serves the site; `extraMounts` ([urlPrefix, directory] pairs) come first and `csp` replaces the
 * policy (the benchmarks use both: TensorFlow.js needs 'unsafe-eval', which the site refuses). */
export function startServer(port = Number(process.env.PORT ?? 8080), host = "127.0.0.1", extraMounts = [], csp = CSP) {
  const all = [...extraMounts, ...mounts];
  const server = createServer(async (req, res) => {
    let path;
    try {
      path = decodeURIComponent(new URL(req.url, "http://localhost").pathname);
    } catch {
      res.writeHead(400).end();
      return;
    }
    const [prefix, dir] = all.find(([p]) => path.startsWith(p));
    let file = normalize(join(dir, path.slice(prefix.length)));
    if (!file.startsWith(dir)) {
      res.writeHead(403).end();
      return;
    }
    try {
      if ((await stat(file)).isDirectory()) file = join(file, "index.html");
      const body = await readFile(file);
      res.writeHead(200, {
        "Content-Type": types[extname(file)] ?? "application/octet-stream",
        "Content-Security-Policy": csp,
        "Cache-Control": "no-cache",
      });
      res.end(body);
    } catch {
      res.writeHead(404, { "Content-Type": "text/plain" }).end("not found");
    }
  });
  return new Promise((ok) => server.listen(port, host, () => ok(server)));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const server = await startServer();
  const { port } = server.address();
  console.log(`DermaEBM site: http://localhost:${port}/  (Ctrl+C to stop)`);
}
