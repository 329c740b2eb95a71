/**
 * The strict XML 1.0 reader the SOAP envelope goes through: bytes are decoded by their byte order
 * mark (UTF-8, with or without one, or UTF-16 with one; XML 1.0 §4.3.3 and Appendix F), then
 * parsed by saxes, a conforming non-validating XML 1.0 parser with namespaces. What is not
 * well-formed is refused, never repaired: a NUL or other character XML forbids, raw or as a
 * reference (`&#0;`), an entity XML does not predefine (`&nbsp;`), an encoding declaration that
 * contradicts the bytes. SOAP 1.1 §3 forbids a DTD and processing instructions in a message, so
 * the parser's own doctype and processing-instruction events refuse them: no entity is ever
 * declared, so none is ever expanded, and a `<!DOCTYPE` inside CDATA is just text.
 *
 * The tree is the shape the MM7 code reads: an element with neither attributes nor child
 * elements is its trimmed text; any other is an object keyed by child elements' local names,
 * `@_<local name>` for attributes and `#text` for its trimmed text. A name seen twice becomes an
 * array; names `isArray` picks are always arrays. An object element's namespace URI is kept
 * under a symbol, out of the keys ({@link namespaceUriOf}).
 */
import { SaxesParser, type SaxesTagNS, type XMLDecl } from "saxes";

/** An element that has attributes or child elements; objects have no prototype to pollute. */
export type XmlNode = Record<string, unknown>;

/** How the bytes were encoded, as found by their byte order mark. */
export type XmlEncoding = "UTF-8" | "UTF-16LE" | "UTF-16BE";

/** A parsed document: its root element under its local name, and what else the MM7 code asks. */
export interface XmlDocument {
  /** The document node: the root element under its local name. */
  readonly document: XmlNode;
  readonly encoding: XmlEncoding;
  /** Every element's namespace URI, distinct, in document order. */
  readonly namespaces: readonly string[];
}

/** How to read a document. @example { depthMax: 32, isArray: (path) => path.at(-1) === "To" } */
export interface XmlReadOptions {
  /** Elements may nest at most this deep (the root is depth 1). */
  readonly depthMax: number;
  /** Whether the element at `path` (local names, root first) is always an array. */
  readonly isArray: (path: readonly string[]) => boolean;
}

/**
 * The document is not XML this reader takes; the message says why.
 * @example new XmlRefused("doctype", "a DTD is not allowed in a SOAP message")
 */
export class XmlRefused extends Error {
  readonly reason: "encoding" | "malformed" | "doctype" | "depth";

  constructor(reason: XmlRefused["reason"], message: string) {
    super(message);
    this.reason = reason;
  }
}

const XMLNS_NAMESPACE = "http://www.w3.org/2000/xmlns/";

/** Where an element node keeps its namespace URI: a symbol, so no key of the tree shows it. */
const NAMESPACE_URI = Symbol("namespace URI");

/**
 * The namespace URI of an element read as an object ("" for none); undefined for a node not
 * made by {@link readXml}.
 * @example namespaceUriOf(readXml("<r xmlns='urn:x'><s/></r>", options).document.r) // "urn:x"
 */
export function namespaceUriOf(node: XmlNode): string | undefined {
  return (node as { [NAMESPACE_URI]?: string })[NAMESPACE_URI];
}

/**
 * Decodes XML bytes by their byte order mark; without one they must be UTF-8 (XML 1.0 §4.3.3).
 * Decoding is fatal: bytes that are not the encoding are refused, not replaced with U+FFFD.
 * @example decodeXml(Buffer.from("\ufeff<r/>", "utf16le")) // "<r/>", UTF-16LE
 */
export function decodeXml(bytes: Uint8Array): { text: string; encoding: XmlEncoding } {
  const [b0, b1, b2, b3] = bytes;
  if ((b0 === 0 && b1 === 0) || (b0 === 0xff && b1 === 0xfe && b2 === 0 && b3 === 0)) {
    throw new XmlRefused("encoding", "UTF-32 is not supported: UTF-8 or UTF-16 only");
  }
  let encoding: XmlEncoding = "UTF-8";
  if (b0 === 0xff && b1 === 0xfe) encoding = "UTF-16LE";
  else if (b0 === 0xfe && b1 === 0xff) encoding = "UTF-16BE";
  else if ((b0 === 0 && b1 === 0x3c) || (b0 === 0x3c && b1 === 0)) {
    throw new XmlRefused("encoding", "UTF-16 without a byte order mark (XML 1.0 §4.3.3)");
  }
  try {
    // The decoder drops the byte order mark it recognizes (ignoreBOM is false).
    return { text: new TextDecoder(encoding, { fatal: true }).decode(bytes), encoding };
  } catch {
    throw new XmlRefused("encoding", `the bytes are not ${encoding}`);
  }
}

/** An element being read: its local name and node, and its text so far. */
interface OpenElement {
  readonly name: string;
  readonly node: XmlNode;
  text: string;
}

/**
 * Parses a document: bytes are decoded by {@link decodeXml}; a string is taken as decoded
 * already, as UTF-8 would be. Throws {@link XmlRefused}.
 * @example readXml("<r a='1'><s>x</s></r>", { depthMax: 8, isArray: () => false }).document
 * // { r: { "@_a": "1", s: "x" } }
 */
export function readXml(input: Uint8Array | string, options: XmlReadOptions): XmlDocument {
  const { text, encoding } =
    typeof input === "string"
      ? { text: input.replace(/^\uFEFF/, ""), encoding: "UTF-8" as const }
      : decodeXml(input);
  const parser = new SaxesParser({ xmlns: true, position: true });
  const document: XmlNode = Object.create(null);
  const open: OpenElement[] = [];
  const namespaces = new Set<string>();
  parser.on("xmldecl", (declaration) => checkDeclaration(declaration, encoding));
  parser.on("doctype", () => {
    throw new XmlRefused("doctype", "a DTD is not allowed in a SOAP message");
  });
  parser.on("processinginstruction", ({ target }) => {
    throw new XmlRefused("malformed", `processing instruction <?${target}?> (SOAP 1.1 §3)`);
  });
  parser.on("opentag", (tag) => {
    if (open.length >= options.depthMax) {
      throw new XmlRefused("depth", `elements nest deeper than ${options.depthMax}`);
    }
    namespaces.add(tag.uri);
    open.push({ name: tag.local, node: attributesOf(tag), text: "" });
  });
  const addText = (chunk: string) => {
    const element = open.at(-1);
    // Outside the root only whitespace is allowed, and saxes refuses the rest itself.
    if (element !== undefined) element.text += chunk;
  };
  parser.on("text", addText);
  parser.on("cdata", addText);
  parser.on("closetag", () => {
    const element = open.pop()!;
    const path = [...open.map((parent) => parent.name), element.name];
    const parent = open.at(-1)?.node ?? document;
    attach(parent, element.name, elementValue(element), options.isArray(path));
  });
  try {
    parser.write(text).close();
  } catch (error) {
    if (error instanceof XmlRefused) throw error;
    throw new XmlRefused("malformed", `XML not well-formed: ${(error as Error).message}`);
  }
  return { document, encoding, namespaces: [...namespaces] };
}

/** The encodings a declaration may name for bytes of each encoding (upper case). */
const DECLARABLE: Record<XmlEncoding, readonly string[]> = {
  "UTF-8": ["UTF-8"],
  "UTF-16LE": ["UTF-16", "UTF-16LE"],
  "UTF-16BE": ["UTF-16", "UTF-16BE"],
};

function checkDeclaration(declaration: XMLDecl, encoding: XmlEncoding): void {
  if (declaration.version !== undefined && declaration.version !== "1.0") {
    throw new XmlRefused("malformed", `XML ${declaration.version} is not accepted: XML 1.0 only`);
  }
  const declared = declaration.encoding;
  if (declared === undefined || DECLARABLE[encoding].includes(declared.toUpperCase())) return;
  if (Object.values(DECLARABLE).some((names) => names.includes(declared.toUpperCase()))) {
    throw new XmlRefused("encoding", `the XML declares encoding ${declared} but is ${encoding}`);
  }
  throw new XmlRefused("encoding", `encoding ${declared} is not supported: UTF-8 or UTF-16 only`);
}

/** A new element's node holding its attributes; namespace declarations are not attributes. */
function attributesOf(tag: SaxesTagNS): XmlNode {
  const node: XmlNode = Object.create(null);
  Object.defineProperty(node, NAMESPACE_URI, { value: tag.uri, enumerable: false });
  for (const attribute of Object.values(tag.attributes)) {
    if (attribute.uri !== XMLNS_NAMESPACE) node[`@_${attribute.local}`] = attribute.value;
  }
  return node;
}

/** XML's white space (XML 1.0 production S), which is all `trim` should take. */
const EDGE_WHITESPACE = /^[ \t\r\n]+|[ \t\r\n]+$/g;

function elementValue(element: OpenElement): unknown {
  const text = element.text.replace(EDGE_WHITESPACE, "");
  if (Object.keys(element.node).length === 0) return text;
  if (text !== "") element.node["#text"] = text;
  return element.node;
}

function attach(parent: XmlNode, name: string, value: unknown, alwaysArray: boolean): void {
  const existing = parent[name];
  if (existing === undefined) parent[name] = alwaysArray ? [value] : value;
  else if (Array.isArray(existing)) existing.push(value);
  else parent[name] = [existing, value];
}
