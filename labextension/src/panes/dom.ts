/**
 * Small DOM helpers. Text always goes in as text nodes (never as HTML), so task- or
 * worker-supplied strings cannot inject markup.
 */

export type Child = Node | string | number | null | undefined | false;

/** Creates an element with attributes (strings set as attributes, functions as listeners) and children. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: { [name: string]: string | number | boolean | EventListener | null | undefined } = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) {
      continue;
    }
    if (typeof value === 'function') {
      el.addEventListener(name.replace(/^on/, ''), value);
    } else if (name === 'className') {
      el.className = String(value);
    } else if (value === true) {
      el.setAttribute(name, '');
    } else {
      el.setAttribute(name, String(value));
    }
  }
  append(el, ...children);
  return el;
}

/** Appends children; strings become text nodes. */
export function append(parent: Node, ...children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) {
      continue;
    }
    parent.appendChild(typeof c === 'object' ? c : document.createTextNode(String(c)));
  }
}

/** Removes all children of an element. */
export function clear(el: Element): void {
  while (el.firstChild) {
    el.removeChild(el.firstChild);
  }
}

/** A <select> with (value, label) options. */
export function select(
  options: [string, string][],
  value: string,
  onChange: (value: string) => void,
  attrs: { [name: string]: string } = {}
): HTMLSelectElement {
  const el = h('select', { className: 'jf-select', ...attrs });
  setOptions(el, options, value);
  el.addEventListener('change', () => onChange(el.value));
  return el;
}

/** Replaces a select's options, keeping `value` selected when it is among them. */
export function setOptions(el: HTMLSelectElement, options: [string, string][], value: string): void {
  const same =
    el.options.length === options.length && options.every(([v, l], i) => el.options[i].value === v && el.options[i].text === l);
  if (!same) {
    clear(el);
    for (const [v, label] of options) {
      const o = document.createElement('option');
      o.value = v;
      o.text = label;
      el.appendChild(o);
    }
  }
  el.value = options.some(([v]) => v === value) ? value : (options[0]?.[0] ?? '');
}

/** A button with a label and a click handler. */
export function button(label: string, onClick: (ev: MouseEvent) => void, attrs: { [name: string]: string } = {}): HTMLButtonElement {
  const el = h('button', { className: 'jf-button', type: 'button', ...attrs }, label);
  el.addEventListener('click', onClick);
  return el;
}

/** Offers text as a file download. */
export function download(filename: string, text: string, mime: string): void {
  const blob = new Blob([text], { type: mime });
  const url = URL.createObjectURL(blob);
  const a = h('a', { href: url, download: filename });
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}
