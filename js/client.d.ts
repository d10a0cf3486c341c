// Types of the worker-backed engine client (client.js).

export type Backend = "auto" | "gpu" | "cpu";

export interface BackendInfo {
  /** "webgpu" or "cpu". */
  backend: string;
  adapter: string;
  software_adapter: boolean;
  /** Why this backend was chosen, when it is not the obvious one. */
  note: string;
}

/** Settings of the recovery-likelihood recipe. */
export interface RecoveryConfig {
  levels: number; steps: number; step_factor: number; ema_decay: number; warmup: number;
  /** A class-conditional run's share of images trained as "any class". */
  unlabelled_fraction: number;
}

/** Settings of the denoising recipe: the residual net's depth, the levels training draws and
 * the walk that samples. */
export interface DenoisingConfig {
  stages: number; blocks: number; embedding: number; p_mean: number; p_std: number;
  sigma_min: number; sigma_max: number; levels: number; churn: number; ema_decay: number; warmup: number;
  /** A class-conditional run's share of images trained as "any class". */
  unlabelled_fraction: number;
}

/** The run configuration (see EbmConfig in the Rust core); every field has a default. */
export interface EbmConfig {
  /** "denoising" (an energy per noise level by denoising score matching), "recovery" (noise
   * levels by recovery likelihood) or "contrastive" (the UvA tutorial-8 reference). */
  recipe: "denoising" | "recovery" | "contrastive";
  recovery: RecoveryConfig;
  denoising: DenoisingConfig;
  channels: number; image_size: number; width: number; spectral_norm: boolean; classes: number;
  batch_size: number; buffer_size: number; fresh_fraction: number; chains_in_place: boolean;
  fresh_langevin_steps: number;
  langevin_steps: number; step_size: number; noise_std: number; grad_clamp: number;
  alpha: number; real_noise_std: number; augment_real: boolean; lr: number; beta1: number; beta2: number; lr_decay: number;
  grad_clip_norm: number; class_loss_weight: number; head_lr_factor: number; seed: number;
  guard_energy_bound: number; guard_lr_factor: number; guard_max_rollbacks: number; guard_drift_bound: number;
}

export interface ModelInfo {
  ready: boolean;
  iteration: number;
  /** 0 = unconditional. */
  classes: number;
  /** Names of the classes the classifier answers with (empty when there is none). */
  class_names: string[];
  /** What classifies images: the weights file's linear probe on the net's features, the
   * class-conditional net's own head, or nothing. */
  classifier: "probe" | "head" | null;
  config: EbmConfig;
  /** Persistent chains to continue (`sample({ from: "persistent" })`). */
  persistent_chains: number;
  /** The model samples by walking noise levels from noise (denoising, recovery), each level
   * reported as it is reached, rather than by Langevin chains. */
  walks_levels: boolean;
  /** What `sample` takes by default: from noise (a denoising model's levels, a recovery model's
   * Langevin steps per level, a contrastive model's Langevin steps) and continuing persistent
   * chains. */
  default_steps: { noise: number; persistent: number };
}

export interface IterStats {
  iteration: number; epoch: number; loss: number; cd: number; reg: number;
  class_loss: number; class_accuracy: number;
  energy_real: number; energy_fake: number; lr: number; fresh: number; seconds: number;
  /** The iteration diverged and was undone (weights restored, learning rate lowered). */
  rolled_back: boolean;
}

/** One recorded state of every chain. */
export interface Frame {
  /** Langevin steps taken. */
  step: number;
  /** A recovery walk's noise level (T at the start, then down to 0); absent otherwise. */
  level?: number;
  /** RGBA bytes of each chain's state, concatenated. */
  rgba: Uint8Array;
}

export interface Samples {
  /** RGBA bytes of each sample (side×side×4), concatenated. */
  samples: Uint8Array;
  /** Recorded chain states, noise first. */
  chain: Frame[];
  side: number;
  count: number;
  /** Where the chains started. */
  from: "noise" | "persistent";
  /** Langevin steps each sample took. */
  steps: number;
  /** The model's noise levels (0: a contrastive model). */
  levels: number;
  /** The draw's seed: `sample({ seed })` with it draws the same samples again. */
  seed: number;
  /** The class sampled (class-conditional models), null for any. */
  class: number | null;
}

/** The training loop's events (the core's `RunEvent`), as the client dispatches them. */
export interface TrainingEvent {
  event: "training";
  /** true when a loop starts; false when it stops (after its stop checkpoint). */
  running: boolean;
  /** Updates behind the run's model (null when the engine was lost). */
  iteration: number | null;
}

export interface StatsEvent {
  event: "stats";
  stats: IterStats;
}

/** What the run's model draws now: a recovery run's level walks (one row per chain, one column
 * per level) or a contrastive run's newest replay-buffer chains. */
export interface SamplesEvent {
  event: "samples";
  rgba: Uint8Array;
  count: number;
  side: number;
  columns: number;
  /** The noise level of each column (empty for the buffer). */
  levels: number[];
  /** The class of each buffer chain (class-conditional runs). */
  labels: number[];
}

export interface CheckpointEvent {
  event: "checkpoint";
  reason: "periodic" | "pause" | "finished";
  iteration: number;
  /** The checkpoint file. */
  bytes: Uint8Array;
  /** Keep a copy of it (`keepEvery` after the newest kept one). */
  keep: boolean;
}

/** Options of the training loop (`call("trainLoop", options)` / `call("train", options)`). */
export interface TrainLoopOptions {
  /** Iterations to run, then stop (absent: until `pause`). */
  iterations?: number;
  /** A checkpoint every this many iterations (default 25; 0: none on the way). */
  checkpointEvery?: number;
  /** Mark a checkpoint `keep` when it is this many iterations after the newest kept copy (0: never). */
  keepEvery?: number;
  /** The iteration of the newest copy kept so far (default 0). */
  keptAt?: number;
  /** A checkpoint when the loop pauses or finishes (default true). */
  checkpointOnStop?: boolean;
  /** Live samples after the first iteration and every this many (default 5; 0: none). */
  sampleEvery?: number;
}

/** Every operation the worker accepts (a closed list: anything else is refused). */
export type Operation =
  | "create" | "setHelpers" | "poolStatus" | "killNextShare" | "loadWeightsUrl" | "startTraining" | "generate" | "trainStep"
  | "bufferSamples" | "liveSamples" | "saveCheckpoint" | "trainLoop" | "train" | "pause" | "isTraining"
  | "backend" | "config" | "setConfig" | "modelInfo" | "iteration" | "loadWeights" | "saveWeights" | "loadDataset"
  | "datasetImages" | "datasetLabels" | "inpaint" | "denoise" | "addNoise" | "scoreRgba" | "scoreSplit" | "scoreNoise"
  | "classifyRgba" | "classifySplit" | "saveSafetensors"
  | "defaultConfig" | "memoryBytes" | "maskPreset" | "auroc" | "encodePng" | "encodeGif";

export interface LoadedWeights {
  iteration: number;
  note: string;
  config: EbmConfig;
  has_buffer: boolean;
  has_optimizer: boolean;
}

export interface ShardFile {
  name: string;
  bytes: Uint8Array | ArrayBuffer;
}

export class EngineClient extends EventTarget {
  /** Why the engine stopped, once it has. */
  lost: string | null;
  info: { backend: BackendInfo; config: string; model: ModelInfo; helpers: number } | null;
  /** `helpers`: chain helper workers for Langevin on the CPU (default `defaultHelpers()`; 0 =
   * the engine's thread only; ignored on WebGPU). */
  static start(options?: { backend?: Backend; helpers?: number; workerUrl?: URL | string }): Promise<EngineClient>;
  constructor(worker: Worker);
  /** An operation by name: an Engine method (see dermaebm.d.ts) or a worker op. */
  call(op: Operation, ...args: unknown[]): Promise<any>;
  terminate(reason?: string): void;
  loadWeights(source: string | URL | Uint8Array | ArrayBuffer): Promise<LoadedWeights>;
  loadCheckpoint(source: string | URL | Uint8Array | ArrayBuffer): Promise<LoadedWeights>;
  sample(options?: {
    count?: number;
    /** Default: the model's — the levels of a denoising model's walk; per level as trained for
     * a recovery model; 256 from noise and 40 continuing persistent chains for a contrastive one. */
    steps?: number;
    classIndex?: number;
    recordEvery?: number;
    /** "noise" (default) or "persistent": continue a contrastive model's persistent chains. */
    from?: "noise" | "persistent";
    /** Reproduces an earlier draw (its `seed`); omitted, each call draws afresh. */
    seed?: number;
    /** Sees each level of a walk as soon as it is done. */
    onFrame?: (frame: Frame) => void;
    /** A class-conditional denoising model's composed energy: E_any + Σ weight·(E_class − E_any)
     * (one class with guidance; two classes together). */
    composition?: { terms: { class: number; weight: number }[] };
    /** A denoising model: Metropolis-adjusted Langevin steps after each level of its walk. */
    malaSteps?: number;
  }): Promise<Samples>;
  score(rgba: Uint8Array | ArrayBuffer, count: number): Promise<Float32Array>;
  train(options: {
    files?: ShardFile[];
    config?: Partial<EbmConfig>;
    iterations?: number;
    onProgress?: (stats: IterStats) => boolean | void;
    resume?: boolean;
  }): Promise<IterStats | null>;
  saveCheckpoint(): Promise<Uint8Array>;
  saveWeights(): Promise<Uint8Array>;
  /** The energy net as safetensors (PyTorch's names and layout). */
  saveSafetensors(): Promise<Uint8Array>;
}

/** One chain helper per core beyond the engine's own thread, at least one. */
export function defaultHelpers(): number;
