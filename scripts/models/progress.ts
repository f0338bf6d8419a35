/**
 * Progress for long transfers: one redrawn line on a terminal (bytes, %,
 * rate, ETA), plain lines at every 10 % (or every 256 MB when the total is
 * unknown) when the output is a file or a pipe.
 */

export interface ProgressState {
  label: string;
  done: number;
  total: number | null;
  /** bytes per second since the transfer (re)started; null before there is a rate */
  rate: number | null;
}

export function formatBytes(n: number): string {
  if (n < 1000) return `${n} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = n;
  let i = -1;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${v >= 100 ? v.toFixed(0) : v.toFixed(1)} ${units[i]}`;
}

export function formatDuration(sec: number): string {
  if (!Number.isFinite(sec) || sec < 0) return '--:--';
  const s = Math.round(sec);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/** One progress line, e.g. `download [#####-----]  48.2% 120.5 MB / 250.0 MB  10.1 MB/s  ETA 0:12`. */
export function formatProgress(s: ProgressState, barWidth = 24): string {
  const rate = s.rate !== null && s.rate > 0 ? `${formatBytes(s.rate)}/s` : '-- B/s';
  if (s.total === null || s.total <= 0) return `${s.label} ${formatBytes(s.done)}  ${rate}`;
  const frac = Math.min(1, s.done / s.total);
  const filled = Math.round(frac * barWidth);
  const bar = `[${'#'.repeat(filled)}${'-'.repeat(barWidth - filled)}]`;
  const eta = s.rate !== null && s.rate > 0 ? formatDuration((s.total - s.done) / s.rate) : '--:--';
  return `${s.label} ${bar} ${(frac * 100).toFixed(1).padStart(5)}% ${formatBytes(s.done)} / ${formatBytes(s.total)}  ${rate}  ETA ${eta}`;
}

export interface ProgressOut {
  write(s: string): unknown;
  isTTY?: boolean;
}

export interface Progress {
  /** `done` bytes of `total`; `start` is where this transfer began (a resumed download starts past 0) */
  update(done: number, total: number | null, start?: number): void;
  finish(): void;
}

/** A progress printer on `out`; `now` is injectable so tests need no clock. */
export function createProgress(label: string, out: ProgressOut, now: () => number = Date.now): Progress {
  const tty = out.isTTY === true;
  let t0: number | null = null;
  let from = 0;
  let lastDraw = 0;
  let lastStep = -1;
  let last: ProgressState = { label, done: 0, total: null, rate: null };
  let started = false;
  const STEP_UNKNOWN = 256e6;

  return {
    update(done, total, start = 0) {
      started = true;
      const t = now();
      if (t0 === null || start !== from) {
        t0 = t;
        from = start;
      }
      const elapsed = (t - t0) / 1000;
      last = { label, done, total, rate: elapsed > 0.2 ? (done - from) / elapsed : null };
      if (tty) {
        if (t - lastDraw >= 100 || (total !== null && done >= total)) {
          lastDraw = t;
          out.write(`\r${formatProgress(last)}\x1b[K`);
        }
        return;
      }
      const step = total !== null && total > 0 ? Math.floor((done / total) * 10) : Math.floor(done / STEP_UNKNOWN);
      if (step !== lastStep) {
        lastStep = step;
        out.write(`${formatProgress(last)}\n`);
      }
    },
    finish() {
      if (!started) return;
      if (tty) out.write(`\r${formatProgress(last)}\x1b[K\n`);
      else if (last.total === null || last.done < last.total || lastStep < 10) out.write(`${formatProgress(last)}\n`);
    },
  };
}
