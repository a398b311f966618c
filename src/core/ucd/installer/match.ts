// Turning raw installer output into text the matchers can trust, and the product's wording
// (texts.ts) into matchers that survive how that text reaches us: split into chunks anywhere,
// wrapped onto several lines, framed by Ant's "[echo]" prefix, sprinkled with ANSI colour codes
// and carriage returns from the pty.

// CSI (colours, cursor moves), OSC (window titles), and the two-character escapes.
const ANSI = /\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]/g;
// An escape sequence cut off at the end of what has arrived so far; the rest comes next chunk.
const ANSI_INCOMPLETE = /\x1b(?:\[[0-?]*[ -/]*|\][^\x07\x1b]*)?$/;
// Ant's default logger frames every line of an <echo> ("     [echo] ..."); `input` likewise.
const ANT_TASK_PREFIX = /^\s*\[(?:echo|input)\]\s?/;

/**
 * One physical line of output (no '\n') as a reader would see it: escapes removed, a carriage
 * return overwriting what came before it on the line (progress counters), other control
 * characters dropped, Ant's task prefix removed, whitespace collapsed.
 */
export function cleanLine(raw: string): string {
  let s = raw.replace(ANSI, '').replace(ANSI_INCOMPLETE, '');
  s = s.replace(/\r+$/, '');
  const cr = s.lastIndexOf('\r');
  if (cr >= 0) s = s.slice(cr + 1);
  s = s.replace(/[\x00-\x08\x0b-\x1f\x7f]/g, '');
  s = s.replace(ANT_TASK_PREFIX, '');
  return s.replace(/\s+/g, ' ').trim();
}

/** A product text compiled into a matcher; placeholders become captures. */
export interface LooseMatcher {
  readonly template: string;
  readonly regex: RegExp;
  /** Placeholder name of each capture group, in order. */
  readonly names: readonly string[];
}

export interface LooseMatch {
  readonly index: number;
  readonly end: number;
  readonly text: string;
  /** First capture of each placeholder, whitespace collapsed and trimmed. */
  readonly values: Readonly<Record<string, string>>;
}

function escapeChar(ch: string): string {
  return /[\\^$.*+?()[\]{}|/]/.test(ch) ? `\\${ch}` : ch;
}

/**
 * Compiles a template so that any whitespace, or none, may stand between any two of its
 * characters: a line wrapped at a space, or hard-wrapped mid-word, still matches. Matching is
 * case-insensitive. With `atEnd`, the text must end the output (modulo whitespace): a prompt is
 * only a prompt when the installer printed nothing after it.
 */
export function compileLoose(template: string, options: { atEnd?: boolean } = {}): LooseMatcher {
  const names: string[] = [];
  const parts = template.split(/(\{\w+\})/);
  const source = parts
    .map((part, i) => {
      const ph = /^\{(\w+)\}$/.exec(part);
      if (ph) {
        names.push(ph[1]);
        // A value closed by a bracket holds no bracket of that kind, so a capture cannot run on
        // across the next prompt's "[Default Y]" or "(version)".
        const close = (parts[i + 1] ?? '').trimStart()[0];
        if (close === ']') return '([^\\[\\]]*?)';
        if (close === ')') return '([^()]*?)';
        return '(.*?)';
      }
      return [...part.replace(/\s+/g, '')].map(escapeChar).join('\\s*');
    })
    .join('\\s*');
  return { template, regex: new RegExp(source + (options.atEnd ? '\\s*$' : ''), 'i'), names };
}

export function matchLoose(m: LooseMatcher, text: string): LooseMatch | undefined {
  const r = m.regex.exec(text);
  if (!r) return undefined;
  const values: Record<string, string> = {};
  m.names.forEach((name, i) => {
    if (!(name in values)) values[name] = (r[i + 1] ?? '').replace(/\s+/g, ' ').trim();
  });
  return { index: r.index, end: r.index + r[0].length, text: r[0], values };
}

/** Terminal punctuation of a question: what a prompt the table does not know still looks like. */
const PROMPT_LIKE = [
  /\?\s*$/,
  /:\s*$/,
  /\]\s*$/,
  /\(\s*y\s*\/\s*n\s*\)\s*$/i,
  /\by\s*,\s*n\b/i,
  /\[\s*default\b[^\]]*\]/i,
  /\(press enter to continue\)\s*$/i,
  /\[type "?yes"? to confirm\]/i,
  // The installer's own questions mostly start so, whatever they end with ("...directory).").
  /^(?:please )?(?:enter|type|specify|choose|select)\b/i,
];
// Ant's target headers ("install:", "upgrade-db:") end with a colon but are not questions, and
// long silent work often follows them.
const ANT_TARGET = /^[\w.-]+:$/;

/** Whether a (cleaned) last line of output reads like the installer is asking something. */
export function looksLikePrompt(line: string): boolean {
  const s = line.trim();
  if (s === '' || ANT_TARGET.test(s)) return false;
  if (/^(?:BUILD SUCCESSFUL|BUILD FAILED|Total time:)/i.test(s)) return false;
  return PROMPT_LIKE.some((p) => p.test(s));
}
