/**
 * Progress on stderr: on a TTY, one bar redrawn in place; otherwise plain
 * lines (at start, every 10 % or 15 s, and at the end) that scripts and logs
 * can read.
 */
export function fmtBytes(n: number): string {
  if (n >= 1024 * 1024 * 1024) return `${(n / 1024 ** 3).toFixed(1)} GiB`;
  if (n >= 1024 * 1024) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}

export function fmtDuration(sec: number | null): string {
  if (sec === null || !Number.isFinite(sec)) return '--';
  const s = Math.max(0, Math.round(sec));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

export interface ProgressOut {
  write(s: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export class Progress {
  private lastLine = 0;
  private lastPct = -1;
  private drawn = false;

  constructor(
    private readonly out: ProgressOut,
    private readonly tty: boolean,
  ) {}

  private bar(frac: number, width: number): string {
    const f = Math.max(0, Math.min(1, frac));
    const full = Math.round(f * width);
    return `[${'#'.repeat(full)}${'.'.repeat(width - full)}]`;
  }

  /** `label`: what is happening; `done`/`total`: units; `detail`: text after the numbers. */
  update(label: string, done: number, total: number, detail: string, opts: { final?: boolean; bytes?: boolean } = {}): void {
    const frac = total > 0 ? done / total : 0;
    const pct = Math.floor(frac * 100);
    const nums = opts.bytes ? `${fmtBytes(done)}/${fmtBytes(total)}` : `${done}/${total}`;
    if (this.tty) {
      const line = `${label} ${this.bar(frac, 24)} ${String(pct).padStart(3)}% ${nums} ${detail}`;
      const cols = this.out.columns && this.out.columns > 0 ? this.out.columns : 100;
      this.out.write(`\r\x1b[2K${line.slice(0, Math.max(20, cols - 1))}`);
      this.drawn = true;
      if (opts.final) this.done();
      return;
    }
    const now = Date.now();
    const step = Math.floor(pct / 10);
    if (opts.final || this.lastPct < 0 || step > Math.floor(this.lastPct / 10) || now - this.lastLine > 15_000) {
      this.out.write(`${label}: ${nums} (${pct}%) ${detail}\n`.replace(/ +\n$/, '\n'));
      this.lastLine = now;
      this.lastPct = pct;
    }
    if (opts.final) this.lastPct = -1;
  }

  /** Ends the in-place line (TTY). */
  done(): void {
    if (this.tty && this.drawn) this.out.write('\n');
    this.drawn = false;
    this.lastPct = -1;
  }
}
