/**
 * The worker's metrics, recorded on its main thread: per batch (size,
 * padding, engine time by stage — measured on the engine thread and sent
 * back with the transcripts), per finished task (end-to-end and queue-wait
 * latency, RTFx, audio seconds), the models it holds (load time, loaded),
 * its memory and, where nvidia-smi exists, its GPUs.
 */
import type { BatchTiming } from '@voxfleet/asr';
import type { TaskOutcomeStatus } from '@voxfleet/queue';
import { counter, gauge, histogram, observe, observeGpus, observeProcessMemory, type Meter } from '@voxfleet/telemetry';

export interface TaskTiming {
  model: string;
  status: TaskOutcomeStatus;
  /** when the gateway accepted the job */
  submittedAt: number;
  /** when it entered the queue, and when this run took it up */
  enqueuedAt: number;
  processedOn: number;
  startedAt: number;
  completedAt: number;
  /** the audio's length, for a completed task */
  audioSec?: number;
}

export interface WorkerMetrics {
  batch(model: string, size: number, timing: BatchTiming): void;
  taskFinished(t: TaskTiming): void;
  modelLoaded(m: { name: string; provider: string; precision: string; loadMs: number }): void;
  /** the model no longer takes jobs (draining or closed) */
  modelUnloaded(name: string): void;
  stop(): void;
}

export async function workerMetrics(meter: Meter, opts: { gpu?: boolean } = {}): Promise<WorkerMetrics> {
  const batchSize = histogram(meter, 'batchSize');
  const padding = histogram(meter, 'batchPadding');
  const engineTime = histogram(meter, 'inferenceDuration');
  const jobDuration = histogram(meter, 'jobDuration');
  const queueWait = histogram(meter, 'jobQueueWait');
  const rtfx = histogram(meter, 'jobRtfx');
  const audio = counter(meter, 'audioSeconds');
  const models = new Map<string, { provider: string; precision: string; loadSec: number; loaded: boolean }>();
  const stops = [
    observeProcessMemory(meter),
    observe(gauge(meter, 'modelLoadSeconds'), (r) => models.forEach((m, model) => r.observe(m.loadSec, { model, provider: m.provider, precision: m.precision }))),
    observe(gauge(meter, 'modelLoaded'), (r) => models.forEach((m, model) => r.observe(m.loaded ? 1 : 0, { model }))),
  ];
  if (opts.gpu !== false) stops.push(await observeGpus(meter));

  return {
    batch(model, size, t) {
      batchSize.record(size, { model });
      if (t.paddedFrames > 0) padding.record((t.paddedFrames - t.frames) / t.paddedFrames, { model });
      engineTime.record(t.frontEndMs / 1000, { model, stage: 'frontend' });
      engineTime.record(t.inferenceMs / 1000, { model, stage: 'inference' });
    },
    taskFinished(t) {
      jobDuration.record(Math.max(0, t.completedAt - t.submittedAt) / 1000, { model: t.model, outcome: t.status });
      queueWait.record(Math.max(0, t.processedOn - t.enqueuedAt) / 1000, { model: t.model });
      if (t.status !== 'completed' || t.audioSec === undefined) return;
      audio.add(t.audioSec, { model: t.model });
      const workSec = (t.completedAt - t.startedAt) / 1000;
      if (workSec > 0) rtfx.record(t.audioSec / workSec, { model: t.model });
    },
    modelLoaded(m) {
      models.set(m.name, { provider: m.provider, precision: m.precision, loadSec: m.loadMs / 1000, loaded: true });
    },
    modelUnloaded(name) {
      const m = models.get(name);
      if (m) m.loaded = false;
    },
    stop: () => stops.forEach((s) => s()),
  };
}
