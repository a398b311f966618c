// Times as a person reads them in a change record or a log: the local wall clock with its offset
// ("2026-11-24 10:01:00 +01:00"), one zone throughout, so no reader has to convert UTC in their head.

/** The zone of this machine, unless the caller names one (tests, or a record made for another site). */
export function defaultTimeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-CA', {
      timeZone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit',
      hour: '2-digit', minute: '2-digit', second: '2-digit', timeZoneName: 'longOffset',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

/** "2026-11-24 10:01:00 +01:00" (milliseconds with `ms`); the text given back as is when it is no time. */
export function localTime(at: string | Date | number, timeZone: string = defaultTimeZone(), ms = false): string {
  const d = at instanceof Date ? at : new Date(at);
  if (Number.isNaN(d.getTime())) return String(at);
  const parts = Object.fromEntries(formatter(timeZone).formatToParts(d).map((p) => [p.type, p.value]));
  // longOffset is "GMT+01:00", or just "GMT" at UTC itself.
  const offset = (parts.timeZoneName ?? 'GMT').replace(/^GMT/, '') || '+00:00';
  const frac = ms ? `.${String(d.getUTCMilliseconds()).padStart(3, '0')}` : '';
  return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute}:${parts.second}${frac} ${offset}`;
}

/** A span as a person says it: "850 ms", "42 s", "16 min 40 s", "2 h 5 min". */
export function duration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '?';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}
