import { XMLBuilder, XMLParser, XMLValidator } from 'fast-xml-parser';
import { escapeXml } from './xml-escape.js';

/**
 * An XML document as an ordered tree, for editing a document and writing it back with
 * everything not edited kept as it was: element order, comments, whitespace, and every
 * text and attribute value byte for byte as escaped in the input (fast-xml-parser with
 * `preserveOrder` and without entity processing, so `&#38;` is never turned into
 * `&amp;#38;`). Values are decoded when read and escaped when written through the
 * helpers here; never put a raw value into a node by hand.
 *
 * A node is fast-xml-parser's: `{ [tag]: children, ':@'?: attributes }`, with the tags
 * `#text` and `#comment` for text and comments.
 */
export type XmlNode = Record<string, unknown>;

const ATTRIBUTES = ':@';
const TEXT = '#text';
const COMMENT = '#comment';

const options = {
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: '',
  processEntities: false,
  htmlEntities: false,
  trimValues: false,
  parseTagValue: false,
  parseAttributeValue: false,
  allowBooleanAttributes: false,
  suppressBooleanAttributes: false,
  commentPropName: COMMENT,
  textNodeName: TEXT,
  suppressEmptyNode: true,
  format: false,
} as const;

const parser = new XMLParser(options);
const builder = new XMLBuilder(options);

/** Parses a well-formed document; throws an Error naming the line of the first fault. */
export function parseXmlTree(xml: string): XmlNode[] {
  const valid = XMLValidator.validate(xml);
  if (valid !== true) throw new Error(`not well-formed XML: ${valid.err.msg} (line ${valid.err.line})`);
  return parser.parse(xml) as XmlNode[];
}

export function buildXmlTree(nodes: XmlNode[]): string {
  return builder.build(nodes) as string;
}

/** The element's tag, or `#text` / `#comment` / `?xml`. */
export function tagOf(node: XmlNode): string {
  return Object.keys(node).find((key) => key !== ATTRIBUTES) ?? '';
}

export function childrenOf(node: XmlNode): XmlNode[] {
  const children = node[tagOf(node)];
  return Array.isArray(children) ? (children as XmlNode[]) : [];
}

/** The child elements, all or those with `tag`. */
export function childElements(node: XmlNode, tag?: string): XmlNode[] {
  return childrenOf(node).filter((child) => {
    const name = tagOf(child);
    return tag === undefined ? name !== TEXT && name !== COMMENT : name === tag;
  });
}

export function firstChild(node: XmlNode, tag: string): XmlNode | undefined {
  return childElements(node, tag)[0];
}

/** Every element with `tag` below `node`, at any depth, in document order. */
export function descendants(node: XmlNode, tag: string): XmlNode[] {
  return childElements(node).flatMap((child) => [...(tagOf(child) === tag ? [child] : []), ...descendants(child, tag)]);
}

function attributes(node: XmlNode): Record<string, string> {
  return (node[ATTRIBUTES] as Record<string, string> | undefined) ?? {};
}

/** An attribute's value, decoded. */
export function getAttr(node: XmlNode, name: string): string | undefined {
  const raw = attributes(node)[name];
  return raw === undefined ? undefined : decodeXml(raw);
}

export function setAttr(node: XmlNode, name: string, value: string): void {
  node[ATTRIBUTES] = { ...attributes(node), [name]: escapeXml(value) };
}

export function removeAttr(node: XmlNode, name: string): void {
  const { [name]: _removed, ...rest } = attributes(node);
  if (Object.keys(rest).length === 0) delete node[ATTRIBUTES];
  else node[ATTRIBUTES] = rest;
}

/** The names of the element's attributes, in document order (namespace declarations among them). */
export function attributeNames(node: XmlNode): string[] {
  return Object.keys(attributes(node));
}

export function hasAttributes(node: XmlNode): boolean {
  return Object.keys(attributes(node)).length > 0;
}

/** The element's text content (its direct text children), decoded. */
export function textOf(node: XmlNode): string {
  return decodeXml(
    childrenOf(node)
      .filter((child) => tagOf(child) === TEXT)
      .map((child) => String(child[TEXT]))
      .join(''),
  );
}

/** Replaces the element's content with one text. */
export function setText(node: XmlNode, value: string): void {
  node[tagOf(node)] = value === '' ? [] : [{ [TEXT]: escapeXml(value) }];
}

/** A new element; attribute values and children as given (values escaped here). */
export function element(tag: string, attrs: Record<string, string> = {}, children: XmlNode[] = []): XmlNode {
  const node: XmlNode = { [tag]: children };
  for (const [name, value] of Object.entries(attrs)) setAttr(node, name, value);
  return node;
}

/**
 * Removes the child elements `remove` says so of, each with the whitespace before it, so
 * no empty line is left where it stood; an element left with whitespace only is emptied.
 */
export function removeChildren(node: XmlNode, remove: (child: XmlNode) => boolean): void {
  const kept: XmlNode[] = [];
  let removed = false;
  for (const child of childrenOf(node)) {
    if (tagOf(child) !== TEXT && tagOf(child) !== COMMENT && remove(child)) {
      if (kept.length > 0 && isBlank(kept.at(-1)!)) kept.pop();
      removed = true;
      continue;
    }
    kept.push(child);
  }
  node[tagOf(node)] = removed && kept.every(isBlank) ? [] : kept;
}

function isBlank(node: XmlNode): boolean {
  return tagOf(node) === TEXT && String(node[TEXT]).trim() === '';
}

/** Inserts `child` after the child element `after` (or first when undefined or absent). */
export function insertChild(node: XmlNode, child: XmlNode, after?: XmlNode): void {
  const children = childrenOf(node);
  const at = after === undefined ? -1 : children.indexOf(after);
  children.splice(at + 1, 0, child);
  node[tagOf(node)] = children;
}

const NAMED_ENTITIES: Readonly<Record<string, string>> = { lt: '<', gt: '>', amp: '&', apos: "'", quot: '"' };

/** Decodes the five predefined entities and character references. */
export function decodeXml(value: string): string {
  return value.replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, (whole, ref: string) => {
    if (!ref.startsWith('#')) return NAMED_ENTITIES[ref] ?? whole;
    const hex = ref[1] === 'x' || ref[1] === 'X';
    const code = Number.parseInt(ref.slice(hex ? 2 : 1), hex ? 16 : 10);
    return code <= 0x10ffff ? String.fromCodePoint(code) : whole;
  });
}
