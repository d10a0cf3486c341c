// The chain pool in a real Chromium: Langevin on the CPU split across helper workers gives the
// same seeded images and the same training statistics with 0, 1 or 2 helpers, and a helper
// that dies in the middle of its share is replaced, its share rerun, the run unchanged.
import { test } from "node:test";
import assert from "node:assert/strict";
import { siteForSuite } from "./helpers.mjs";

const site = siteForSuite();

/** Opens the site on the CPU backend with `helpers` chain helpers, then: seeded samples from
 * noise (the shipped model's walk), and two tiny contrastive training iterations on the bundled
 * sample — with the fault drill armed before the second when `kill` is set. */
async function run(helpers, kill = false) {
  const page = await site.browser.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(`${site.base}?backend=cpu&helpers=${helpers}`);
  await page.waitForFunction(() => document.body.dataset.ready, null, { timeout: 180_000 });
  const out = await page.evaluate(async (kill) => {
    const { call } = window.dermaebm;
    // Helpers start after the first Langevin run (the page's first look): wait for them.
    for (let i = 0; i < 600; i++) {
      const pool = await call("poolStatus");
      if (pool.ready === pool.size) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const sample = await call("generate", 6, 12, 0, undefined, "noise", { seed: 7 });
    const bytes = new Uint8Array(await (await fetch("data/dermamnist-ham10000-28-sample.npz")).arrayBuffer());
    await call("loadDataset", ["sample.npz"], [bytes]);
    // The contrastive recipe: its Langevin chains are what the helpers share out in training
    // (the shipped model's denoising recipe trains without chains; its walk above is shared).
    const config = JSON.parse(await call("defaultConfig", "contrastive"));
    await call("setConfig", JSON.stringify({ ...config, batch_size: 12, langevin_steps: 4, buffer_size: 64, seed: 5 }));
    await call("startTraining", false);
    const first = await call("trainStep");
    const drill = kill ? await call("killNextShare") : false;
    const second = await call("trainStep");
    return { samples: Array.from(sample.samples), stats: [first, second].map((s) => [s.loss, s.energy_real, s.energy_fake]), drill, pool: await call("poolStatus") };
  }, kill);
  await page.close();
  assert.deepEqual(errors, [], "no page errors");
  return out;
}

test("seeded samples and training do not depend on the number of chain helpers", async () => {
  const alone = await run(0);
  assert.equal(alone.pool.size, 0);
  for (const helpers of [1, 2]) {
    const pooled = await run(helpers);
    assert.equal(pooled.pool.size, helpers);
    assert.ok(pooled.pool.shares > 0, `the ${helpers} helper(s) ran shares`);
    // Bit-identical: each chain's noise is its own and the net's arithmetic is the same in
    // every instance; only how chains are grouped into tiles differs.
    assert.deepEqual(pooled.samples, alone.samples, `samples with ${helpers} helper(s)`);
    assert.deepEqual(pooled.stats, alone.stats, `training statistics with ${helpers} helper(s)`);
  }
});

test("a helper that dies mid-share is replaced and its share rerun; the run goes on unchanged", async () => {
  const alone = await run(0);
  const drilled = await run(1, true);
  assert.equal(drilled.drill, true, "the fault drill was armed");
  assert.ok(drilled.pool.replaced >= 1, `a helper was replaced: ${JSON.stringify(drilled.pool)}`);
  assert.deepEqual(drilled.stats, alone.stats, "the iteration with the killed helper computed the same negatives");
});
