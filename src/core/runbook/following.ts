// What the views say about an action that runs detached on a node (an installer): whether this
// window follows it, and whether the link to its node is down. The journal says what runs detached
// and what happened to the link; the session says what it carries itself. Pure, so the words the
// tree and the status webview show have unit tests.
import type { ActionKind, JournalEvent } from '../journal/events';

export type Following =
  /** This window reads its log and will record its outcome. */
  | { readonly kind: 'followed'; readonly node: string }
  /** Runs on the node and nobody here follows it: this window let go of it, or has not re-attached yet. */
  | { readonly kind: 'unfollowed'; readonly node: string }
  /** Another window owns the run and follows it; this one only reads the journal. */
  | { readonly kind: 'followed-elsewhere'; readonly node: string }
  /** The link to the node went down while it ran; it goes on there. */
  | { readonly kind: 'connection-lost'; readonly node: string };

/**
 * Per action id, for every action with a detached process: how it is followed now.
 * `carried(id)`: whether this session itself follows it; `owner`: whether this window owns the run.
 */
export function followingOf(events: readonly JournalEvent[], carried: (id: string) => boolean, owner: boolean): Map<string, Following> {
  const out = new Map<string, Following>();
  const lost = new Set<string>();
  for (const e of events) {
    if (e.type === 'detached' && e.node !== undefined) out.set(e.id, { kind: 'followed', node: e.node });
    else if (e.type === 'connection-lost') lost.add(e.id);
    else if (e.type === 'connection-restored') lost.delete(e.id);
    else if ((e.type === 'finished' || e.type === 'interrupted') && out.has(e.id)) {
      out.delete(e.id);
      lost.delete(e.id);
    }
  }
  for (const [id, f] of out) {
    const kind = lost.has(id) ? 'connection-lost' : !owner ? 'followed-elsewhere' : carried(id) ? 'followed' : 'unfollowed';
    out.set(id, { kind, node: f.node });
  }
  return out;
}

/** The one line for a running action: plain "running…" unless it runs detached on its node. */
export function runningDetail(kind: ActionKind, f: Following | undefined): string {
  if (!f) return kind === 'run' ? 'running…' : 'checking…';
  switch (f.kind) {
    case 'followed': return `running on ${f.node} (detached; followed)`;
    case 'unfollowed': return `running on ${f.node} (detached; not followed here — Check follows it again)`;
    case 'followed-elsewhere': return `running on ${f.node} (detached; followed by the window that owns the run)`;
    case 'connection-lost': return `connection to ${f.node} lost; the installer keeps running there`;
  }
}
