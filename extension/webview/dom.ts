// DOM helpers for the webview. Text goes in as text nodes only: nothing here
// parses markup, so arguments written by a model stay inert text whatever
// they contain (`<img onerror=…>`, `</script>`).

export type Child = Node | string | number | null | undefined | false;

export interface Props {
  class?: string;
  /** `data-testid`, the stable handle the end-to-end tests use. */
  testid?: string;
  /** Other attributes; event-handler attributes (`on…`) are refused. */
  attrs?: Record<string, string | number | boolean | undefined>;
  title?: string;
  onClick?: (event: MouseEvent) => void;
}

/**
 * Creates an element with safe attributes and text children.
 *
 * @example
 * h('span', { class: 'tool' }, approval.tool)
 */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Props = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  if (props.class) el.className = props.class;
  if (props.testid) el.setAttribute('data-testid', props.testid);
  if (props.title) el.title = props.title;
  for (const [name, value] of Object.entries(props.attrs ?? {})) {
    if (/^on/i.test(name)) throw new Error(`refusing inline handler attribute ${name}`);
    if (value === undefined || value === false) continue;
    el.setAttribute(name, value === true ? '' : String(value));
  }
  if (props.onClick) (el as HTMLElement).addEventListener('click', props.onClick);
  append(el, ...children);
  return el;
}

export function append(parent: Node, ...children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(
      typeof child === 'string' || typeof child === 'number'
        ? document.createTextNode(String(child))
        : child,
    );
  }
}

/** A codicon glyph (decorative: the text next to it says the same). */
export function icon(name: string): HTMLSpanElement {
  return h('span', { class: `codicon codicon-${name}`, attrs: { 'aria-hidden': 'true' } });
}

export function clear(el: Element): void {
  while (el.firstChild) el.removeChild(el.firstChild);
}
