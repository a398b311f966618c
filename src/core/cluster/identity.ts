// How the loader tells that two entries of the cluster file name one machine, as far as the text
// shows it: host names compare as DNS does (case-insensitive), addresses by their value, and any
// notation a resolver may read two ways is refused rather than guessed.
import { isIPv4, isIPv6 } from 'node:net';

export type HostReading =
  | { readonly ok: true; readonly key: string }
  | { readonly ok: false; readonly problem: string };

/**
 * The key two hosts share exactly when they are written for the same address or name.
 * A trailing dot and IPv4 in any notation other than plain dotted decimal are problems: getaddrinfo
 * and inet_aton read `010.0.0.1` as 8.0.0.1 (octal), `10.1` as 10.0.0.1, `0xa.0.0.1` as hex.
 */
export function readHost(host: string): HostReading {
  if (host.endsWith('.')) {
    return { ok: false, problem: `ends with a dot; write it without the trailing dot ("${host.replace(/\.+$/, '')}"), so each machine has one spelling` };
  }
  if (/\s/.test(host)) return { ok: false, problem: 'contains white space' };
  const bare = host.replace(/^\[(.*)\]$/, '$1');
  if (isIPv6(bare)) return { ok: true, key: ipv6Key(bare) };
  const labels = host.split('.');
  // A name whose last label is numeric is no DNS name: resolvers parse the whole as an IPv4 address.
  const numeric = (l: string): boolean => /^(0x[0-9a-f]*|[0-9]+)$/i.test(l);
  if (numeric(labels[labels.length - 1] ?? '')) {
    if (!labels.every(numeric)) {
      return { ok: false, problem: 'ends in a numeric label, which no DNS name does (resolvers may take it for an address); write the full host name or the IPv4 address' };
    }
    const plain = labels.length === 4 && labels.every((l) => /^(0|[1-9][0-9]{0,2})$/.test(l) && Number(l) <= 255);
    if (!plain) {
      const zeros = labels.some((l) => /^0[0-9]/.test(l));
      return {
        ok: false,
        problem: zeros
          ? 'is an IPv4 address with leading zeros, which resolvers may read as octal (010 is 8): ambiguous; write each number without leading zeros, in decimal'
          : 'is an IPv4 address in a short, hex or out-of-range notation that resolvers read in different ways; write it as four decimal numbers a.b.c.d (0–255)',
      };
    }
    return { ok: true, key: host };
  }
  return { ok: true, key: host.toLowerCase() };
}

function ipv6Key(addr: string): string {
  // The URL parser prints the canonical (compressed, lower-case) form of an IPv6 address; it
  // refuses a zone (fe80::1%eth0), which then compares as written.
  let canonical: string;
  try {
    canonical = new URL(`http://[${addr}]/`).hostname.replace(/^\[(.*)\]$/, '$1');
  } catch {
    return addr.toLowerCase();
  }
  // An IPv4-mapped address is that IPv4 address.
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(canonical);
  if (mapped) {
    const hi = parseInt(mapped[1] as string, 16);
    const lo = parseInt(mapped[2] as string, 16);
    const v4 = `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
    if (isIPv4(v4)) return v4;
  }
  return canonical;
}

/**
 * Why an install dir is not written in its one normal form, or undefined when it is. Text is all
 * the loader has; the nodes resolve symlinks themselves at the probe.
 */
export function installDirProblem(dir: string, os: 'linux' | 'windows'): string | undefined {
  const sep = os === 'windows' ? /[\\/]/ : /\//;
  const root = os === 'windows' ? /^([A-Za-z]:[\\/]?|\\\\[^\\/]+[\\/][^\\/]+[\\/]?)$/ : /^\/+$/;
  if (root.test(dir)) return 'is the root of the file system, not a UCD installation';
  // The loader has already refused a relative path, so the head is there.
  const head = os === 'windows' ? (/^([A-Za-z]:[\\/]|\\\\)/.exec(dir)?.[0] ?? '') : '/';
  const segments = dir.slice(head.length).split(sep);
  if (segments.includes('..')) return `has a ".." segment; write the folder it means, without ".."`;
  if (segments.includes('.') || segments.includes('')) {
    const join = os === 'windows' && dir.includes('\\') ? '\\' : '/';
    const kept = segments.filter((s) => s !== '' && s !== '.');
    return `is not written normalised (an empty, "." or trailing segment); write it as "${head}${kept.join(join)}"`;
  }
  return undefined;
}
