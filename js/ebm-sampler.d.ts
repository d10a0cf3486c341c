// Types of the <ebm-sampler> custom element (ebm-sampler.js).

export class EbmSampler extends HTMLElement {
  /** Draws a new set of samples. */
  regenerate(): Promise<void>;
}

declare global {
  interface HTMLElementTagNameMap {
    "ebm-sampler": EbmSampler;
  }
  interface HTMLElementEventMap {
    /** `seed` draws the same samples again (the `seed` attribute). */
    "ebm-sampled": CustomEvent<{ count: number; side: number; seconds: number; seed: number }>;
    "ebm-error": CustomEvent<{ message: string }>;
  }
}
