import { InvalidArgument } from '../errors.js';
import { POLICY_KEYS } from '../policy/policy.js';
import { quote } from '../util/clip.js';

/**
 * `virt-dr policy --set/--unset`: edits of one policy layer as JSON (pure). The CLI does
 * not check what a value means: the agent parses the whole layer when it is set and
 * names every problem, so the rules live in one place.
 */

/** A layer as the CLI edits it: get_policy's `layers.domain` or `layers.project`, as JSON. */
export type LayerJson = Record<string, unknown>;

/** One change: a value at a key path, or the key path removed. */
export type PolicyEdit = { kind: 'set'; path: string[]; value: unknown; text: string } | { kind: 'unset'; path: string[]; text: string };

/** A policy's key names are snake_case; anything else cannot be one. */
const KEY_NAME = /^[a-z][a-z0-9_]*$/;
/**
 * Names an assignment would resolve through Object.prototype rather than as own keys.
 * KEY_NAME already refuses `__proto__`; the walk below also reads own keys only.
 */
const PROTOTYPE_NAMES = new Set(['__proto__', 'constructor', 'prototype']);

/** `--set KEY=VALUE`: KEY a key path; VALUE as JSON when it parses as JSON, else the text itself (so `missed=skip` works). */
export function parseSet(text: string): PolicyEdit {
  const equals = text.indexOf('=');
  if (equals < 0) throw new InvalidArgument(`--set ${quote(text)}: expected KEY=VALUE (KEY a policy key or a dotted path into one)`);
  return { kind: 'set', path: parseKeyPath(text.slice(0, equals), `--set ${quote(text)}`), value: parseValue(text.slice(equals + 1)), text };
}

/** `--unset KEY`: a key path to remove from the layer. */
export function parseUnset(text: string): PolicyEdit {
  return { kind: 'unset', path: parseKeyPath(text, `--unset ${quote(text)}`), text };
}

export function parseValue(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** `retention.max_count` → ['retention', 'max_count']: snake_case names, the first a policy key. */
export function parseKeyPath(text: string, what: string): string[] {
  const path = text.split('.');
  for (const name of path) {
    if (name === '') throw new InvalidArgument(`${what}: the key path has an empty name (write it like retention.max_count)`);
    if (!KEY_NAME.test(name) || PROTOTYPE_NAMES.has(name)) {
      throw new InvalidArgument(`${what}: ${quote(name)} is not a policy key name (lowercase letters, digits and _)`);
    }
  }
  if (!(POLICY_KEYS as readonly string[]).includes(path[0]!)) {
    throw new InvalidArgument(`${what}: ${quote(path[0])} is not a policy key (keys: ${POLICY_KEYS.join(', ')})`);
  }
  return path;
}

/**
 * `layer` (null: none set) with `edits` applied in order, as a new object: the layer
 * `set_policy` gets whole. A path through a value that is not an object is refused; a
 * missing or null object on the way is created (`schedule.interval_s=30` on no schedule).
 * Removing a key also removes the objects it leaves empty.
 */
export function applyEdits(layer: LayerJson | null, edits: readonly PolicyEdit[]): LayerJson {
  // The layer came as JSON, so a JSON round trip is an exact deep copy.
  const edited = JSON.parse(JSON.stringify(layer ?? {})) as LayerJson;
  for (const edit of edits) {
    if (edit.kind === 'set') setAt(edited, edit);
    else unsetAt(edited, edit);
  }
  return edited;
}

function setAt(root: LayerJson, edit: PolicyEdit & { kind: 'set' }): void {
  let node = root;
  edit.path.slice(0, -1).forEach((name, i) => {
    const child = ownValue(node, name);
    if (child === undefined || child === null) {
      node = node[name] = {};
      return;
    }
    if (!isObject(child)) throw notAnObject(`--set ${quote(edit.text)}`, edit.path.slice(0, i + 1), child);
    node = child;
  });
  node[edit.path.at(-1)!] = edit.value;
}

function unsetAt(root: LayerJson, edit: PolicyEdit & { kind: 'unset' }): void {
  const what = `--unset ${quote(edit.text)}`;
  const chain: LayerJson[] = [root];
  edit.path.slice(0, -1).forEach((name, i) => {
    const child = ownValue(chain.at(-1)!, name);
    if (child === undefined) throw notSet(what, edit.path);
    if (!isObject(child)) throw notAnObject(what, edit.path.slice(0, i + 1), child);
    chain.push(child);
  });
  if (ownValue(chain.at(-1)!, edit.path.at(-1)!) === undefined) throw notSet(what, edit.path);
  delete chain.at(-1)![edit.path.at(-1)!];
  for (let depth = chain.length - 1; depth > 0 && Object.keys(chain[depth]!).length === 0; depth--) {
    delete chain[depth - 1]![edit.path[depth - 1]!];
  }
}

/** Own keys only: a name never reaches Object.prototype's members. */
function ownValue(node: LayerJson, name: string): unknown {
  return Object.hasOwn(node, name) ? node[name] : undefined;
}

function isObject(value: unknown): value is LayerJson {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function notAnObject(what: string, path: string[], value: unknown): InvalidArgument {
  const kind = Array.isArray(value) ? 'a list: set it whole, like plan.secondaries=[...]' : `${quote(value)}, not an object`;
  return new InvalidArgument(`${what}: ${path.join('.')} is ${kind}`);
}

function notSet(what: string, path: string[]): InvalidArgument {
  return new InvalidArgument(`${what}: ${path.join('.')} is not set in this layer`);
}
