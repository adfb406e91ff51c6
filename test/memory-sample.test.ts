/** What a worker reports of its memory: RSS and the V8 heap inside it, collected first when gc is exposed. */
import { memorySample } from '../worker/memory-sample';

afterEach(() => {
  delete (globalThis as { gc?: unknown }).gc;
});

test('reports RSS and the V8 heap, which is part of it', () => {
  const m = memorySample();
  expect(m.jsHeapBytes).toBeGreaterThan(0);
  expect(m.rssBytes).toBeGreaterThan(m.jsHeapBytes);
});

test('collects before sampling when the process exposes gc (--expose-gc), and not otherwise', () => {
  const gc = jest.fn();
  memorySample();
  (globalThis as { gc?: unknown }).gc = gc;
  memorySample();
  expect(gc).toHaveBeenCalledTimes(1);
});
