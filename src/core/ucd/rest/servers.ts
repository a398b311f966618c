// GET /rest/server: the servers UCD knows in its cluster (UI API, ucd-facts.md "REST"). The shape is
// not documented; each item is read for a name and a host under the field names seen in the UI's
// API (name, hostName/host/address), and an item with neither is a protocol problem, never dropped.

export const SERVERS_PATH = '/rest/server';

export interface ListedServer {
  readonly name?: string;
  readonly host?: string;
  /** As the server said, when it said; absent means not stated. */
  readonly active?: boolean;
}

export type ServerListParse =
  | { readonly ok: true; readonly servers: readonly ListedServer[] }
  | { readonly ok: false; readonly problem: string };

const str = (v: unknown): string | undefined => (typeof v === 'string' && v.trim() ? v.trim() : undefined);

export function parseServerList(body: string): ServerListParse {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return { ok: false, problem: 'the answer is not JSON' };
  }
  const items = Array.isArray(value) ? value : typeof value === 'object' && value !== null && Array.isArray((value as { records?: unknown }).records) ? (value as { records: unknown[] }).records : undefined;
  if (!items) return { ok: false, problem: 'the answer is not a list of servers' };
  const servers: ListedServer[] = [];
  for (const [i, item] of items.entries()) {
    if (typeof item !== 'object' || item === null) return { ok: false, problem: `item ${i + 1} is not an object` };
    const o = item as Record<string, unknown>;
    const name = str(o.name);
    const host = str(o.hostName) ?? str(o.host) ?? str(o.address);
    if (!name && !host) return { ok: false, problem: `item ${i + 1} has neither a name nor a host` };
    servers.push({ ...(name ? { name } : {}), ...(host ? { host } : {}), ...(typeof o.active === 'boolean' ? { active: o.active } : {}) });
  }
  return { ok: true, servers };
}
