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

/** The run configuration (see EbmConfig in the Rust core); every field has a default. */
export interface EbmConfig {
  channels: number; image_size: number; width: number; classes: number;
  batch_size: number; buffer_size: number; fresh_fraction: number; chains_in_place: boolean;
  fresh_langevin_steps: number;
  langevin_steps: number; step_size: number; noise_std: number; grad_clamp: number;
  alpha: number; real_noise_std: number; augment_real: boolean; lr: number; beta2: number; lr_decay: number;
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
}

export interface IterStats {
  iteration: number; epoch: number; loss: number; cd: number; reg: number;
  class_loss: number; class_accuracy: number;
  energy_real: number; energy_fake: number; lr: number; fresh: number; seconds: number;
  /** The iteration diverged and was undone (weights restored, learning rate lowered). */
  rolled_back: boolean;
}

export interface Samples {
  /** RGBA bytes of each sample (side×side×4), concatenated. */
  samples: Uint8Array;
  /** Recorded chain states, noise first. */
  chain: { step: number; rgba: Uint8Array }[];
  side: number;
  count: number;
  /** Where the chains started. */
  from: "noise" | "persistent";
}

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
  /** Any Engine method (see dermaebm.d.ts) or worker op, by name. */
  call(op: string, ...args: unknown[]): Promise<any>;
  terminate(reason?: string): void;
  loadWeights(source: string | URL | Uint8Array | ArrayBuffer): Promise<LoadedWeights>;
  loadCheckpoint(source: string | URL | Uint8Array | ArrayBuffer): Promise<LoadedWeights>;
  sample(options?: {
    count?: number;
    /** Default: 256 from noise, 40 continuing persistent chains. */
    steps?: number;
    classIndex?: number;
    recordEvery?: number;
    /** "noise" (default) or "persistent": continue the model's persistent chains. */
    from?: "noise" | "persistent";
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
}

/** One chain helper per core beyond the engine's own thread, at least one. */
export function defaultHelpers(): number;
