// Upload progress as a person reads it in the log: bytes, percent, rate and time left, every
// tenth of the file or every few seconds (a slow link still shows it is alive), and at the end.

export interface UploadProgress {
  readonly sentBytes: number;
  readonly totalBytes: number;
  readonly percent: number;
  /** Average since the upload started. */
  readonly bytesPerSecond: number;
  readonly elapsedMs: number;
  /** At the average rate so far; undefined before any byte arrived. */
  readonly remainingMs?: number;
}

export class UploadMeter {
  private readonly started: number;
  private lastReportAt: number;
  private lastTenth = -1;
  private finished = false;

  constructor(
    readonly totalBytes: number,
    private readonly now: () => number = Date.now,
    private readonly everyMs = 5_000,
  ) {
    this.started = now();
    this.lastReportAt = this.started;
  }

  /** The progress at `sentBytes`, and whether it deserves a log line. */
  update(sentBytes: number): { readonly progress: UploadProgress; readonly report: boolean } {
    const t = this.now();
    const elapsedMs = Math.max(t - this.started, 0);
    const total = Math.max(this.totalBytes, 0);
    const sent = Math.min(Math.max(sentBytes, 0), total);
    const bytesPerSecond = elapsedMs > 0 ? (sent * 1000) / elapsedMs : 0;
    const progress: UploadProgress = {
      sentBytes: sent,
      totalBytes: total,
      percent: total > 0 ? Math.floor((sent / total) * 100) : 100,
      bytesPerSecond,
      elapsedMs,
      ...(bytesPerSecond > 0 ? { remainingMs: ((total - sent) / bytesPerSecond) * 1000 } : {}),
    };
    const tenth = total > 0 ? Math.floor((sent / total) * 10) : 10;
    const done = sent >= total;
    const report = done ? !this.finished : tenth !== this.lastTenth || t - this.lastReportAt >= this.everyMs;
    if (report) {
      this.lastTenth = tenth;
      this.lastReportAt = t;
      if (done) this.finished = true;
    }
    return { progress, report };
  }
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${s % 60} s`;
}

/** `37% (12.0 MiB of 32.4 MiB) at 4.1 MiB/s, about 5 s left` */
export function formatProgress(p: UploadProgress): string {
  const rate = `${formatBytes(Math.round(p.bytesPerSecond))}/s`;
  const left = p.sentBytes < p.totalBytes && p.remainingMs !== undefined ? `, about ${formatDuration(p.remainingMs)} left` : p.sentBytes >= p.totalBytes ? ` in ${formatDuration(p.elapsedMs)}` : '';
  return `${p.percent}% (${formatBytes(p.sentBytes)} of ${formatBytes(p.totalBytes)}) at ${rate}${left}`;
}
