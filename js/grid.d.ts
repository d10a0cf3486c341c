// Types of the canvas grid helper (grid.js).

export function drawGrid(
  canvas: HTMLCanvasElement | OffscreenCanvas,
  rgba: Uint8Array,
  side: number,
  count: number,
  options?: { columns?: number; scale?: number; gap?: number; background?: string },
): void;

export function chainTiles(frames: { rgba: Uint8Array }[], side: number, chains: number): Uint8Array;
