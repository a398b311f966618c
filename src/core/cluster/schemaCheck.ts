// Checks a parsed JSONC tree against the shipped JSON schema, so the editor's IntelliSense and the
// loader can never disagree about what a valid file is. Only the schema keywords the shipped
// schema uses are understood; anything else there is a programming error caught by a unit test.
import type { Node as JsonNode } from 'jsonc-parser';

export interface SchemaIssue {
  readonly node: JsonNode;
  readonly message: string;
  readonly path: (string | number)[];
  /** The issue is about the property name itself (unknown key), not its value. */
  readonly onKey?: boolean;
}

export interface Schema {
  $ref?: string;
  type?: 'string' | 'integer' | 'number' | 'boolean' | 'object' | 'array';
  enum?: readonly unknown[];
  pattern?: string;
  minLength?: number;
  minimum?: number;
  maximum?: number;
  minItems?: number;
  required?: readonly string[];
  additionalProperties?: boolean;
  properties?: Record<string, Schema>;
  items?: Schema;
  definitions?: Record<string, Schema>;
  description?: string;
  default?: unknown;
}

export const SUPPORTED_KEYWORDS = new Set([
  '$schema', '$id', '$ref', 'title', 'description', 'default', 'type', 'enum', 'pattern', 'minLength',
  'minimum', 'maximum', 'minItems', 'required', 'additionalProperties', 'properties', 'items', 'definitions',
]);

export function checkAgainstSchema(root: JsonNode, schema: Schema): SchemaIssue[] {
  const issues: SchemaIssue[] = [];
  visit(root, schema, schema, [], issues);
  return issues;
}

function resolve(s: Schema, root: Schema): Schema {
  if (!s.$ref) return s;
  const name = s.$ref.replace(/^#\/definitions\//, '');
  const target = root.definitions?.[name];
  if (!target) throw new Error(`schema $ref not found: ${s.$ref}`);
  // The referencing site's description wins: it is the more specific one.
  return { ...target, ...s, $ref: undefined, description: s.description ?? target.description };
}

function typeName(n: JsonNode): string {
  if (n.type === 'number') return Number.isInteger(n.value) ? 'whole number' : 'number';
  return n.type === 'string' ? 'text' : n.type === 'array' ? 'list' : n.type;
}

function wanted(t: NonNullable<Schema['type']>): string {
  return { string: 'text', integer: 'whole number', number: 'number', boolean: 'true or false', object: 'object', array: 'list' }[t];
}

function visit(n: JsonNode, raw: Schema, root: Schema, path: (string | number)[], out: SchemaIssue[]): void {
  const s = resolve(raw, root);
  const field = path.length ? `"${path[path.length - 1]}"` : 'The file';
  if (s.enum) {
    if (!s.enum.includes(n.value)) {
      out.push({ node: n, path, message: `${field} must be one of ${s.enum.map((e) => JSON.stringify(e)).join(', ')}.` });
    }
    return;
  }
  if (s.type) {
    const ok =
      s.type === 'integer' ? n.type === 'number' && Number.isInteger(n.value) :
      s.type === 'number' ? n.type === 'number' :
      n.type === s.type;
    if (!ok) {
      out.push({ node: n, path, message: `${field} must be ${article(wanted(s.type))}, not ${article(typeName(n))}.` });
      return;
    }
  }
  if (n.type === 'string') {
    const v = n.value as string;
    if (s.minLength !== undefined && v.length < s.minLength) out.push({ node: n, path, message: `${field} must not be empty.` });
    else if (s.pattern && !new RegExp(s.pattern).test(v)) {
      out.push({ node: n, path, message: `${field} is not valid: ${s.description ?? `must match ${s.pattern}`}` });
    }
  }
  if (n.type === 'number') {
    const v = n.value as number;
    if (s.minimum !== undefined && v < s.minimum) out.push({ node: n, path, message: `${field} must be at least ${s.minimum}.` });
    if (s.maximum !== undefined && v > s.maximum) out.push({ node: n, path, message: `${field} must be at most ${s.maximum}.` });
  }
  if (n.type === 'array') {
    const items = n.children ?? [];
    if (s.minItems !== undefined && items.length < s.minItems) {
      out.push({ node: n, path, message: `${field} needs at least ${s.minItems} entr${s.minItems === 1 ? 'y' : 'ies'}.` });
    }
    if (s.items) items.forEach((item, i) => visit(item, s.items as Schema, root, [...path, i], out));
  }
  if (n.type === 'object') {
    const present = new Map<string, JsonNode>();
    for (const prop of n.children ?? []) {
      const [keyNode, valueNode] = prop.children ?? [];
      if (!keyNode) continue;
      const key = keyNode.value as string;
      present.set(key, prop);
      const propSchema = s.properties?.[key];
      if (propSchema && valueNode) visit(valueNode, propSchema, root, [...path, key], out);
      else if (!propSchema && s.additionalProperties === false) {
        const hint = closest(key, Object.keys(s.properties ?? {}));
        out.push({ node: keyNode, path: [...path, key], onKey: true, message: `Unknown property "${key}".${hint ? ` Did you mean "${hint}"?` : ''}` });
      }
    }
    for (const req of s.required ?? []) {
      if (!present.has(req)) {
        out.push({ node: n, path, message: `Missing required property "${req}" in ${path.length ? describePath(path) : 'the file'}.` });
      }
    }
  }
}

export function describePath(path: readonly (string | number)[]): string {
  return path.map((p) => (typeof p === 'number' ? `[${p}]` : p)).join('.').replace(/\.\[/g, '[');
}

function article(w: string): string {
  return /^[aeiou]/.test(w) ? `an ${w}` : w === 'true or false' || w === 'null' || w === 'text' ? w : `a ${w}`;
}

/** The known key nearest to a misspelt one, if it is near enough to be a likely typo. */
export function closest(key: string, known: string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const d = editDistance(key.toLowerCase(), k.toLowerCase());
    if (d < bestD) { bestD = d; best = k; }
  }
  return bestD <= Math.max(1, Math.floor(key.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  const dp = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = dp[0];
    dp[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = dp[j];
      dp[j] = Math.min(dp[j] + 1, dp[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return dp[b.length];
}
