// The peer a browser user would otherwise pick: the same energy net and CD recipe written in
// TensorFlow.js, timed in the same Chromium. Query: ?backend=webgpu|webgl|wasm|cpu&batch=&steps=&iters=&warmup=
// The figures go to #result as JSON (and to the console).
const params = new URLSearchParams(location.search);
const opt = (k, d) => Number(params.get(k) ?? d);
const recipe = { batch: opt("batch", 128), steps: opt("steps", 60), iters: opt("iters", 3), warmup: opt("warmup", 1),
  stepSize: 10, noise: 0.005, gradClamp: 0.03, alpha: 0.1, lr: 1e-4, clipNorm: 0.1, buffer: 8192 };
const backend = params.get("backend") ?? "webgpu";
const out = document.getElementById("result");

function report(value) {
  out.textContent = JSON.stringify(value);
  console.log(JSON.stringify(value));
}

// UvA tutorial 8: Swish CNN, conv 16/32/64/64 stride 2, linear 256→64→1 (NHWC here).
function makeNet() {
  const conv = (cin, cout, k) => ({ w: tf.variable(tf.randomNormal([k, k, cin, cout], 0, Math.sqrt(1 / (k * k * cin)))), b: tf.variable(tf.zeros([cout])) });
  const dense = (i, o) => ({ w: tf.variable(tf.randomNormal([i, o], 0, Math.sqrt(1 / i))), b: tf.variable(tf.zeros([o])) });
  const layers = { c1: conv(3, 16, 5), c2: conv(16, 32, 3), c3: conv(32, 64, 3), c4: conv(64, 64, 3), f1: dense(256, 64), f2: dense(64, 1) };
  const swish = (x) => tf.mul(x, tf.sigmoid(x));
  const apply = (x, l, pad) => swish(tf.add(tf.conv2d(x, l.w, 2, pad), l.b));
  // Output of the net = -E(x), shape [N].
  const forward = (x) => {
    let h = apply(x, layers.c1, [[0, 0], [4, 4], [4, 4], [0, 0]]);
    h = apply(h, layers.c2, [[0, 0], [1, 1], [1, 1], [0, 0]]);
    h = apply(h, layers.c3, [[0, 0], [1, 1], [1, 1], [0, 0]]);
    h = apply(h, layers.c4, [[0, 0], [1, 1], [1, 1], [0, 0]]);
    h = swish(tf.add(tf.matMul(tf.reshape(h, [h.shape[0], -1]), layers.f1.w), layers.f1.b));
    return tf.reshape(tf.add(tf.matMul(h, layers.f2.w), layers.f2.b), [-1]);
  };
  const vars = Object.values(layers).flatMap((l) => [l.w, l.b]);
  return { forward, vars };
}

async function main() {
  await tf.setBackend(backend);
  await tf.ready();
  const net = makeNet();
  const optimizer = tf.train.adam(recipe.lr, 0.0, 0.999);
  const data = tf.randomUniform([1024, 28, 28, 3], -1, 1);
  let buffer = tf.randomUniform([recipe.buffer, 28, 28, 3], -1, 1);
  const energyGrad = tf.grad((x) => tf.neg(net.forward(x)).sum());

  async function iteration() {
    const fake = tf.tidy(() => {
      const nFresh = Math.round(recipe.batch * 0.05);
      const idx = tf.randomUniform([recipe.batch - nFresh], 0, recipe.buffer, "int32");
      let x = tf.concat([tf.randomUniform([nFresh, 28, 28, 3], -1, 1), tf.gather(buffer, idx)]);
      for (let s = 0; s < recipe.steps; s++) {
        x = tf.clipByValue(tf.add(x, tf.randomNormal(x.shape, 0, recipe.noise)), -1, 1);
        const g = tf.clipByValue(energyGrad(x), -recipe.gradClamp, recipe.gradClamp);
        x = tf.clipByValue(tf.sub(x, tf.mul(g, recipe.stepSize)), -1, 1);
      }
      return x;
    });
    const old = buffer;
    buffer = tf.tidy(() => tf.concat([fake, old.slice([0, 0, 0, 0], [recipe.buffer - recipe.batch, 28, 28, 3])]));
    old.dispose();
    const loss = tf.tidy(() => {
      const idx = tf.randomUniform([recipe.batch], 0, 1024, "int32");
      const real = tf.clipByValue(tf.add(tf.gather(data, idx), tf.randomNormal([recipe.batch, 28, 28, 3], 0, 0.005)), -1, 1);
      const { value, grads } = tf.variableGrads(() => {
        const outp = net.forward(tf.concat([real, fake]));
        const [r, f] = tf.split(outp, 2);
        const reg = tf.mul(recipe.alpha, tf.add(tf.square(r).mean(), tf.square(f).mean()));
        return tf.add(reg, tf.sub(f.mean(), r.mean()));
      });
      const norm = tf.sqrt(tf.addN(Object.values(grads).map((g) => tf.square(g).sum())));
      const scale = tf.minimum(1, tf.div(recipe.clipNorm, tf.add(norm, 1e-6)));
      optimizer.applyGradients(Object.fromEntries(Object.entries(grads).map(([k, g]) => [k, tf.mul(g, scale)])));
      return value;
    });
    fake.dispose();
    const v = (await loss.data())[0];
    loss.dispose();
    return v;
  }

  const times = [];
  for (let i = 0; i < recipe.warmup + recipe.iters; i++) {
    const t = performance.now();
    await iteration();
    if (i >= recipe.warmup) times.push((performance.now() - t) / 1000);
  }
  const sorted = [...times].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)];
  // Sampling: 64 images × 60 steps from noise.
  const t = performance.now();
  const samples = tf.tidy(() => {
    let x = tf.randomUniform([64, 28, 28, 3], -1, 1);
    for (let s = 0; s < 60; s++) {
      x = tf.clipByValue(tf.add(x, tf.randomNormal(x.shape, 0, recipe.noise)), -1, 1);
      x = tf.clipByValue(tf.sub(x, tf.mul(tf.clipByValue(energyGrad(x), -recipe.gradClamp, recipe.gradClamp), recipe.stepSize)), -1, 1);
    }
    return x;
  });
  await samples.data();
  samples.dispose();
  const adapter = backend === "webgpu" ? await navigator.gpu?.requestAdapter() : null;
  report({
    impl: `tfjs-${tf.getBackend()}`, tfjs: tf.version.tfjs, adapter: adapter ? [adapter.info?.vendor, adapter.info?.architecture, adapter.info?.description].filter(Boolean).join(" ") : null,
    batch: recipe.batch, steps: recipe.steps,
    cd_iteration_seconds: { median, min: sorted[0], all: times },
    langevin_image_steps_per_second: (recipe.batch * recipe.steps) / median,
    sample_64x60_seconds: (performance.now() - t) / 1000,
  });
}

main().catch((e) => report({ impl: `tfjs-${backend}`, error: String(e?.message ?? e) }));
