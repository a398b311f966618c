// The status view's words for ages and the run's progress. Pure, and free of Node: the webview
// bundles it, so a page restored after a reload counts ages from the clock, not from when it was saved.
import { duration } from '../journal/localTime';
import type { RunProgress, Seen } from './clusterStatus';
import { STATE_WORD } from '../runbook/rowText';

/** "just now", "42 s ago", "5 min ago", "2 h 5 min ago"; a time in the future (clock skew) is "just now". */
export function ago(iso: string, nowMs: number): string {
  const ms = nowMs - Date.parse(iso);
  if (!Number.isFinite(ms)) return 'at an unknown time';
  if (ms < 10_000) return 'just now';
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s} s ago`;
  if (s < 7200) return `${Math.floor(s / 60)} min ago`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min ago`;
}

/** "step 5 check, 3 min ago". */
export function seenText(seen: Seen, nowMs: number): string {
  return `${seen.by}, ${ago(seen.at, nowMs)}`;
}

/** The progress line's parts: where the run is, how long it has taken, the outage so far. */
export function progressText(p: RunProgress, nowMs: number): { step: string; elapsed: string; outage: string } {
  const step = p.complete ? `complete: all ${p.steps} steps done`
    : p.at ? `step ${p.at.number} of ${p.steps}: ${p.at.title} (${p.at.state === 'ready' ? 'not started' : STATE_WORD[p.at.state]})`
    : `all ${p.steps} steps settled; step ${p.steps} has not shown every node on the target yet`;
  const elapsed = !p.since ? 'no step started yet'
    : p.until ? `${duration(Date.parse(p.until) - Date.parse(p.since))} in all`
    : `${duration(nowMs - Date.parse(p.since))} since the first action`;
  const o = p.outage;
  const outage = o.kind === 'none' ? 'none yet (not every server has been proven stopped)'
    : o.kind === 'ongoing' ? `${duration(nowMs - Date.parse(o.since))} so far: every server down since ${o.lastDown} was proven stopped`
    : `${duration(Date.parse(o.until) - Date.parse(o.since))}, over: ${o.firstUp} was back at the target`;
  return { step, elapsed, outage };
}
