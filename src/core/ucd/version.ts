// Comparing the version an installer or a node reports with the one the cluster file names.
import { compareVersions } from '../cluster/version';

const NUMERIC = /^\d+(?:\.\d+)*$/;

/**
 * Whether `reported` (e.g. an installed.version of "7.0.5.0.1050384": release plus build number)
 * is the release `expected` names ("7.0.5.0", or with its build number). The first four numbers
 * must be equal; a build number is compared only when both carry one. Anything not made of
 * numbers (a "dev" build, an empty capture) is never the expected release.
 */
export function sameRelease(reported: string, expected: string): boolean {
  const a = reported.trim();
  const b = expected.trim();
  if (!NUMERIC.test(a) || !NUMERIC.test(b)) return false;
  const pa = a.split('.');
  const pb = b.split('.');
  if (compareVersions(pa.slice(0, 4).join('.'), pb.slice(0, 4).join('.')) !== 0) return false;
  if (pa.length > 4 && pb.length > 4) return compareVersions(pa.slice(4).join('.'), pb.slice(4).join('.')) === 0;
  return true;
}
