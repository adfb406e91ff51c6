/**
 * What a worker reports of its memory after each step: resident memory, and how much of it is
 * V8's JavaScript heap (the rest is the wasm heap, oneDNN, the addons and malloc). V8 grows its
 * heap with garbage and returns it in its own time, so resident memory swings by tens of MB
 * without any leak. A process started with --expose-gc (`npm run soak` does) collects first, so
 * its samples are live memory only and a leak shows as growth.
 */
export interface MemorySample {
  rssBytes: number;
  jsHeapBytes: number;
}

export function memorySample(): MemorySample {
  const collect = (globalThis as { gc?: () => void }).gc;
  if (typeof collect === 'function') collect();
  const m = process.memoryUsage();
  return { rssBytes: m.rss, jsHeapBytes: m.heapTotal };
}
