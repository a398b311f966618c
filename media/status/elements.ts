// The only module that knows which web-component library renders the controls. The toolkit is
// deprecated upstream; moving to @vscode-elements/elements means changing this file alone.
import { provideVSCodeDesignSystem, vsCodeBadge, vsCodeButton, vsCodeTag } from '@vscode/webview-ui-toolkit';

export function registerElements(): void {
  provideVSCodeDesignSystem().register(vsCodeButton(), vsCodeBadge(), vsCodeTag());
}

type Attrs = Record<string, string | undefined>;

function el<K extends string>(tag: K, attrs: Attrs, children: (Node | string)[]): HTMLElement {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined) e.setAttribute(k, v);
  e.append(...children);
  return e;
}

export function button(label: string, attrs: Attrs, onClick: () => void): HTMLElement {
  const b = el('vscode-button', { appearance: 'secondary', ...attrs }, [label]);
  b.addEventListener('click', onClick);
  return b;
}

export function tag(text: string, attrs: Attrs = {}): HTMLElement {
  return el('vscode-tag', attrs, [text]);
}

export function badge(text: string, attrs: Attrs = {}): HTMLElement {
  return el('vscode-badge', attrs, [text]);
}

export { el };
