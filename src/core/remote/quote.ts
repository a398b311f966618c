// Quoting for the two shells a node may run. Values from the cluster file are untrusted text: a
// quoted value stays one word, whatever it contains, so a strange install path is never a command.

/** A POSIX shell fragment built only from literal template text and quoted values. */
export class ShellScript {
  private constructor(readonly text: string) {}
  /** @internal Only the builders below (and `trusted`) mint scripts. */
  static mint(text: string): ShellScript {
    return new ShellScript(text);
  }
  toString(): string {
    return this.text;
  }
}

/** A PowerShell fragment built only from literal template text and quoted values. */
export class PowerShellScript {
  private constructor(readonly text: string) {}
  /** @internal */
  static mint(text: string): PowerShellScript {
    return new PowerShellScript(text);
  }
  toString(): string {
    return this.text;
  }
}

function refuseNul(value: string): void {
  // No shell can carry a NUL inside an argument; silently truncating would change the value.
  if (value.includes('\0')) throw new Error('a value containing a NUL byte cannot be passed to a shell');
}

/** One POSIX shell word with exactly this value: single quotes, each `'` written as `'\''`. */
export function shQuote(value: string): string {
  refuseNul(value);
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/**
 * One PowerShell string literal with exactly this value. PowerShell also treats the typographic
 * single quotes (U+2018..U+201B) as quote characters, so they are doubled too.
 */
export function psQuote(value: string): string {
  refuseNul(value);
  return `'${value.replace(/['\u2018\u2019\u201a\u201b]/g, (q) => q + q)}'`;
}

export type ShValue = string | number | ShellScript | readonly (string | number)[];
export type PsValue = string | number | PowerShellScript | readonly (string | number)[];

function numberText(n: number): string {
  if (!Number.isFinite(n)) throw new Error(`not a finite number: ${n}`);
  return String(n);
}

/**
 * Tagged template for POSIX shell: every interpolated string is quoted, numbers are written as
 * digits, arrays become several quoted words, and a ShellScript is embedded as already-safe text.
 *   sh`cd ${installDir} && cat var/server.pid`
 */
export function sh(strings: TemplateStringsArray, ...values: ShValue[]): ShellScript {
  let out = strings[0] ?? '';
  values.forEach((v, i) => {
    out += shPart(v) + (strings[i + 1] ?? '');
  });
  return ShellScript.mint(out);
}

function shPart(v: ShValue): string {
  if (v instanceof ShellScript) return v.text;
  if (typeof v === 'number') return numberText(v);
  if (typeof v === 'string') return shQuote(v);
  return v.map((x) => (typeof x === 'number' ? numberText(x) : shQuote(x))).join(' ');
}

/** Tagged template for PowerShell, with the same rules as `sh`. */
export function ps(strings: TemplateStringsArray, ...values: PsValue[]): PowerShellScript {
  let out = strings[0] ?? '';
  values.forEach((v, i) => {
    out += psPart(v) + (strings[i + 1] ?? '');
  });
  return PowerShellScript.mint(out);
}

function psPart(v: PsValue): string {
  if (v instanceof PowerShellScript) return v.text;
  if (typeof v === 'number') return numberText(v);
  if (typeof v === 'string') return psQuote(v);
  return v.map((x) => (typeof x === 'number' ? numberText(x) : psQuote(x))).join(', ');
}

/** Joins scripts with newlines (each line already safe). */
export function shLines(...parts: ShellScript[]): ShellScript {
  return ShellScript.mint(parts.map((p) => p.text).join('\n'));
}

/**
 * A command the user wrote on purpose (e.g. the cluster file's stopCommand) and that must run as
 * a command. Named loudly so a reviewer sees every place text becomes code.
 */
export function trustedShell(commandText: string): ShellScript {
  refuseNul(commandText);
  return ShellScript.mint(commandText);
}
