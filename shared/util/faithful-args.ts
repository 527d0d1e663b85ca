/**
 * Can these arguments be shown to a reviewer faithfully?
 *
 * A reviewer approves what they see; the hash binds the decision to what was
 * hashed; the tool runs what is forwarded. Those must be the same value. Some
 * JSON and JavaScript values are treated differently on those three paths:
 *
 * - a `__proto__` key: `JSON.parse` makes it an own property (hashed and
 *   forwarded), but zod record parsing, `Object.assign` and most object
 *   copies drop it or turn it into a prototype (so the hub API, the CLI, the
 *   sidebar and the phone page never show it);
 * - a key written twice in the JSON text: every parser keeps one of them
 *   (usually the last, not always), so the reviewer and the server may
 *   disagree on which;
 * - a lone surrogate (`"\ud800"`): stores that hold UTF-8 (SQLite, Postgres)
 *   turn it into U+FFFD, while the server receives the surrogate;
 * - values JSON has no faithful form for (NaN, Infinity, BigInt, functions,
 *   `undefined` in an array, a Map or class instance, an invalid Date, a
 *   circular reference): what is shown and hashed is their JSON stand-in,
 *   the tool receives the value. A valid Date is its ISO time, so it passes.
 *
 * hitloop refuses such calls at every way in rather than trying to show them.
 * Pure TypeScript, no `node:` imports.
 */

import { makeVisible } from './visible-text.js';

/** Enough to act on; a flood of problems would only bury the first. */
const MAX_PROBLEMS = 5;

/**
 * Lists what in a value (tool arguments) cannot be shown faithfully, as
 * sentences naming where; empty when the value is fine. At most five.
 *
 * @example
 * findUnshowable(JSON.parse('{"path":"a","__proto__":{"x":1}}'))
 * // ['a "__proto__" key at __proto__ (hidden by object parsing, but still sent to the tool)']
 */
export function findUnshowable(value: unknown): string[] {
  const problems: string[] = [];
  const ancestors = new Set<object>();
  // Path segments of the node being visited, joined only for a problem: this
  // runs on every tool call, and nearly all of them have none.
  const segments: Array<string | number> = [];
  const where = () => pathOf(segments) || '(the arguments)';
  const visit = (node: unknown, inArray: boolean): void => {
    if (problems.length >= MAX_PROBLEMS) return;
    switch (typeof node) {
      case 'string': {
        const lone = loneSurrogate(node);
        if (lone !== undefined)
          problems.push(
            `a lone surrogate ${lone} in the string at ${where()} (stores keep U+FFFD instead; not valid Unicode text)`,
          );
        return;
      }
      case 'number':
        if (!Number.isFinite(node))
          problems.push(`${node} at ${where()} (JSON shows and hashes it as null)`);
        return;
      case 'boolean':
        return;
      case 'undefined':
        // An object member that is undefined is absent on every path (JSON
        // drops it, the hash skips it); in an array JSON turns it into null.
        if (inArray) problems.push(`undefined at ${where()} (JSON shows and hashes it as null)`);
        return;
      case 'bigint':
      case 'function':
      case 'symbol':
        problems.push(`a ${typeof node} at ${where()} (it has no JSON form to show or hash)`);
        return;
    }
    if (node === null) return;
    const object = node as object;
    if (ancestors.has(object)) {
      problems.push(`a circular reference at ${where()}`);
      return;
    }
    // A valid Date shows and hashes as its exact ISO time, which is what a
    // tool schema that coerces dates (LangChain tools) was given.
    if (object instanceof Date) {
      if (Number.isNaN(object.getTime()))
        problems.push(`an invalid Date at ${where()} (JSON shows and hashes it as null)`);
      return;
    }
    const isArray = Array.isArray(object);
    const proto = Object.getPrototypeOf(object) as unknown;
    if (!isArray && proto !== Object.prototype && proto !== null) {
      const kind = (object as { constructor?: { name?: string } }).constructor?.name ?? 'object';
      problems.push(
        `a ${kind} at ${where()} (what is shown and hashed is its JSON form, not the value the tool receives); pass plain JSON`,
      );
      return;
    }
    ancestors.add(object);
    if (isArray) {
      const items = object as unknown[];
      for (let i = 0; i < items.length; i++) {
        segments.push(i);
        visit(items[i], true);
        segments.pop();
      }
    } else {
      for (const key of Object.keys(object)) {
        segments.push(key);
        if (key === '__proto__')
          problems.push(
            `a "__proto__" key at ${where()} (hidden by object parsing, but still sent to the tool)`,
          );
        const lone = loneSurrogate(key);
        if (lone !== undefined)
          problems.push(`a lone surrogate ${lone} in the key at ${where()} (not valid Unicode)`);
        visit((object as Record<string, unknown>)[key], false);
        segments.pop();
      }
    }
    ancestors.delete(object);
  };
  visit(value, false);
  return problems.slice(0, MAX_PROBLEMS);
}

/**
 * Lists the object keys written more than once in a JSON text, as paths
 * (`params.arguments.path`); empty when there are none. Keys are compared
 * after unescaping, so `"a"` and `"\u0061"` are the same key. The text must
 * already have parsed as JSON (call `JSON.parse` first). At most five.
 *
 * @example
 * findDuplicateKeys('{"a":1,"b":{"c":1,"c":2}}') // ['b.c']
 */
export function findDuplicateKeys(text: string): string[] {
  const found: string[] = [];
  const stack: Frame[] = [];
  let i = 0;
  while (i < text.length && found.length < MAX_PROBLEMS) {
    const c = text.charCodeAt(i);
    const top = stack[stack.length - 1];
    if (c === 0x22 /* " */) {
      const end = stringEnd(text, i);
      if (top?.keys && top.expectKey) {
        const raw = text.slice(i + 1, end - 1);
        const key = raw.includes('\\') ? (JSON.parse(text.slice(i, end)) as string) : raw;
        if (top.keys.has(key)) found.push(pathOf([...stack.slice(0, -1).map(segmentOf), key]));
        else top.keys.add(key);
        top.key = key;
        top.expectKey = false;
      }
      i = end;
      continue;
    }
    if (c === 0x7b /* { */) stack.push({ keys: new Set(), expectKey: true, key: '', index: 0 });
    else if (c === 0x5b /* [ */)
      stack.push({ keys: undefined, expectKey: false, key: '', index: 0 });
    else if (c === 0x7d /* } */ || c === 0x5d /* ] */) stack.pop();
    else if (c === 0x2c /* , */ && top) {
      if (top.keys) top.expectKey = true;
      else top.index++;
    }
    i++;
  }
  return found;
}

/**
 * Both checks for a message that carries tool arguments: the parsed value and,
 * when there is one, the raw JSON text it was parsed from. Returns the
 * sentence to tell the sender, or undefined when the arguments are fine.
 * `subject` names what is refused, e.g. `the decision body`.
 *
 * @example
 * const why = unshowableReason(args, rawLine);
 * if (why) return refuse(`Tool 'x' was NOT executed: ${why}`);
 */
export function unshowableReason(
  value: unknown,
  rawText?: string,
  subject = 'its arguments',
): string | undefined {
  const problems = [
    ...(rawText === undefined
      ? []
      : findDuplicateKeys(rawText).map(
          (p) =>
            `the key ${p} appears more than once (the reviewer and the tool could see different values)`,
        )),
    ...findUnshowable(value),
  ];
  if (problems.length === 0) return undefined;
  return `${subject} cannot be shown faithfully to a reviewer: ${problems.slice(0, MAX_PROBLEMS).join('; ')}. Send plain JSON with each key once and no "__proto__" key.`;
}

interface Frame {
  /** Keys seen so far in an object; undefined for an array. */
  keys: Set<string> | undefined;
  expectKey: boolean;
  /** The object's current key, or the array's current index. */
  key: string;
  index: number;
}

/** Where a frame's container sits inside its parent. */
function segmentOf(frame: Frame): string | number {
  return frame.keys ? frame.key : frame.index;
}

/** Index just after the closing quote of the string that starts at `start`. */
function stringEnd(text: string, start: number): number {
  let j = start + 1;
  for (;;) {
    const q = text.indexOf('"', j);
    if (q === -1) return text.length;
    let backslashes = 0;
    for (let k = q - 1; k > start && text.charCodeAt(k) === 0x5c; k--) backslashes++;
    if (backslashes % 2 === 0) return q + 1;
    j = q + 1;
  }
}

/** `U+D800` style label of the first unpaired surrogate, if any. */
function loneSurrogate(text: string): string | undefined {
  // In a `u` regex a surrogate pair is one code point, so \p{Cs} matches
  // only unpaired halves.
  const match = LONE_SURROGATE.exec(text);
  return match ? `U+${match[0].charCodeAt(0).toString(16).toUpperCase()}` : undefined;
}

const LONE_SURROGATE = /\p{Cs}/u;

/** `a.b[2]["odd key"]` for path segments; hidden characters in keys made visible. */
function pathOf(segments: ReadonlyArray<string | number>): string {
  let out = '';
  for (const segment of segments) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else if (/^[A-Za-z_$][\w$]*$/.test(segment)) out += out ? `.${segment}` : segment;
    else out += `[${makeVisible(JSON.stringify(segment))}]`;
  }
  return out;
}
