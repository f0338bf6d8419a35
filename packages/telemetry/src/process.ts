/** This process's memory, read at collection (process.memoryUsage is a cheap synchronous call). */
import type { Meter } from '@opentelemetry/api';
import { gauge, observe } from './instruments.js';

export function observeProcessMemory(meter: Meter): () => void {
  return observe(gauge(meter, 'processMemory'), (r) => {
    const m = process.memoryUsage();
    r.observe(m.rss, { type: 'rss' });
    r.observe(m.heapUsed, { type: 'heap_used' });
    r.observe(m.heapTotal, { type: 'heap_total' });
    r.observe(m.external, { type: 'external' });
    r.observe(m.arrayBuffers, { type: 'array_buffers' });
  });
}
