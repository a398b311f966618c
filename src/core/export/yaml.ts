// A small YAML writer for the Ansible export: block style for people to read, every string
// double-quoted with JSON's escapes (a subset of YAML's), so no value is ever read as another type
// (`yes`, `0700`, `1.10`) and nothing in a value can start a YAML construct.

/** A value Ansible must take as it is, never as a template (`!unsafe`): text from the cluster file. */
export class Unsafe {
  constructor(readonly value: string) {}
}

export type Yaml = string | number | boolean | null | Unsafe | readonly Yaml[] | { readonly [key: string]: Yaml | undefined };

const PLAIN_KEY = /^[A-Za-z_][A-Za-z0-9_.]*$/;

type Scalar = string | number | boolean | null | Unsafe;

function scalar(v: Scalar): string {
  if (v instanceof Unsafe) return `!unsafe ${JSON.stringify(v.value)}`;
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new Error(`YAML: ${v} is not a number YAML can hold`);
    return String(v);
  }
  return v === null ? 'null' : v ? 'true' : 'false';
}

function key(k: string): string {
  return PLAIN_KEY.test(k) && !/^(true|false|yes|no|on|off|null|y|n)$/i.test(k) ? k : JSON.stringify(k);
}

function isBlock(v: Yaml): boolean {
  if (v instanceof Unsafe) return false;
  return (Array.isArray(v) && v.length > 0) || (typeof v === 'object' && v !== null && !Array.isArray(v) && Object.values(v).some((x) => x !== undefined));
}

function emptyOf(v: Yaml): string {
  return Array.isArray(v) ? '[]' : '{}';
}

function lines(v: Yaml, indent: string): string[] {
  if (Array.isArray(v)) {
    return v.flatMap((item: Yaml) => {
      if (!isBlock(item)) return [`${indent}- ${typeof item === 'object' && item !== null && !(item instanceof Unsafe) ? emptyOf(item) : scalar(item as Scalar)}`];
      const inner = lines(item, `${indent}  `);
      // The first line of a mapping sits on the dash; a nested list starts on its own line.
      return Array.isArray(item) ? [`${indent}-`, ...inner] : [`${indent}- ${inner[0].slice(indent.length + 2)}`, ...inner.slice(1)];
    });
  }
  if (typeof v === 'object' && v !== null) {
    return Object.entries(v).flatMap(([k, x]) => {
      if (x === undefined) return [];
      if (!isBlock(x)) return [`${indent}${key(k)}: ${typeof x === 'object' && x !== null && !(x instanceof Unsafe) ? emptyOf(x) : scalar(x as Scalar)}`];
      return [`${indent}${key(k)}:`, ...lines(x, `${indent}  `)];
    });
  }
  return [`${indent}${scalar(v)}`];
}

/** One YAML document. */
export function toYaml(v: Yaml): string {
  return `---\n${lines(v, '').join('\n')}\n`;
}
