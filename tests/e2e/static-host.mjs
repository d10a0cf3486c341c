// A plain static file server that is not this project's code: Python's http.server, serving a
// folder under a sub-path (a temporary directory whose `prefix` entry links to the folder), as
// a GitHub Pages project site or a bucket would serve the deployable site.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

async function freePort() {
  const probe = createServer();
  await new Promise((ok) => probe.listen(0, "127.0.0.1", ok));
  const { port } = probe.address();
  await new Promise((ok) => probe.close(ok));
  return port;
}

/** Serves `folder` at http://127.0.0.1:PORT/`prefix`/; resolves `{origin, base, close}`.
 * `wasmType` replaces the MIME type Python gives `.wasm` files (hosts differ). */
export async function startStaticHost(folder, prefix, { wasmType } = {}) {
  const top = mkdtempSync(join(tmpdir(), "dermaebm-host-"));
  symlinkSync(folder, join(top, prefix));
  const port = await freePort();
  const args = ["-m", "http.server", String(port), "--bind", "127.0.0.1", "--directory", top];
  const python = wasmType
    ? spawn("python3", ["-c", `import http.server as h, sys; h.SimpleHTTPRequestHandler.extensions_map[".wasm"] = ${JSON.stringify(wasmType)}; sys.argv = ["http.server", *sys.argv[1:]]; h.test(HandlerClass=h.SimpleHTTPRequestHandler, port=int(sys.argv[1]), bind="127.0.0.1")`, String(port)], { stdio: "ignore", cwd: top })
    : spawn("python3", args, { stdio: "ignore" });
  const origin = `http://127.0.0.1:${port}`;
  const base = `${origin}/${prefix}/`;
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(base)).ok) break;
    } catch {
      // not listening yet
    }
    if (i > 100) throw new Error(`python3 -m http.server did not start serving ${base}`);
    await new Promise((ok) => setTimeout(ok, 100));
  }
  return {
    origin,
    base,
    close() {
      python.kill();
      rmSync(top, { recursive: true, force: true });
    },
  };
}
