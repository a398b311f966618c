// What a terminal's line discipline did for the installer on a pty, now that its input is a FIFO:
// the person's keystrokes are echoed and edited locally, and only a finished line (Enter) is sent.
// So nothing half-typed reaches the installer, and one line is one write on the node.

export interface LineFeed {
  /** What to show in the terminal for these keystrokes. */
  readonly echo: string;
  /** Lines finished by Enter, without the line ending. */
  readonly lines: readonly string[];
}

// Escape sequences (arrows, function keys) move nothing here: dropped whole.
const ESCAPE = /^\x1b(?:\[[0-9;?]*[ -/]*[@-~]|O.|.)?/;

/** A question that reads like one for a secret: its answer is echoed as `*`. */
export function asksForSecret(lastOutput: string): boolean {
  const tail = lastOutput.split(/\r?\n/).filter((l) => l.trim() !== '').pop() ?? '';
  return /pass(?:word|phrase)|secret|\bpin\b/i.test(tail);
}

export class LineInput {
  private line = '';

  /** `masked` is asked at each key: true shows `*` for it (a password question). */
  constructor(private readonly masked: () => boolean = () => false) {}

  feed(data: string): LineFeed {
    let echo = '';
    const lines: string[] = [];
    for (let i = 0; i < data.length; i++) {
      const c = data[i];
      if (c === '\x1b') {
        const m = ESCAPE.exec(data.slice(i));
        i += (m ? m[0].length : 1) - 1;
      } else if (c === '\r' || c === '\n') {
        if (c === '\r' && data[i + 1] === '\n') i++;
        lines.push(this.line);
        this.line = '';
        echo += '\r\n';
      } else if (c === '\x7f' || c === '\b') {
        if (this.line !== '') {
          this.line = [...this.line].slice(0, -1).join('');
          echo += '\b \b';
        }
      } else if (c === '\x15' || c === '\x03') {
        // Ctrl-U / Ctrl-C: the line is dropped, as a tty's kill character does.
        echo += c === '\x03' ? '^C\r\n' : '\b \b'.repeat([...this.line].length);
        this.line = '';
      } else if (c >= ' ') {
        this.line += c;
        echo += this.masked() ? '*' : c;
      }
    }
    return { echo, lines };
  }
}
