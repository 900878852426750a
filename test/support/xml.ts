/** A strict minimal XML reader for tests (JUnit reports): no XML library is a dependency. */
export interface XmlElement {
  name: string;
  attributes: Record<string, string>;
  children: XmlElement[];
  text: string;
}

/**
 * A strict little XML parser, enough to prove the JUnit file is well-formed (one root, every tag
 * closed in order, attributes quoted, only the five predefined entities or character references)
 * and to read its structure. No XML library is a dependency, and this is all the test needs.
 */
export function parseXml(xml: string): XmlElement {
  let at = 0;
  const fail = (what: string): never => {
    throw new Error(`invalid XML at offset ${at}: ${what}: ${JSON.stringify(xml.slice(at, at + 40))}`);
  };
  const decode = (text: string): string => {
    if (/&(?!(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);)/.test(text)) fail("bare & or unknown entity");
    if (text.includes("<")) fail("< in text");
    return text
      .replace(/&#x([0-9a-fA-F]+);/g, (_, hex: string) => String.fromCodePoint(parseInt(hex, 16)))
      .replace(/&#(\d+);/g, (_, dec: string) => String.fromCodePoint(Number(dec)))
      .replace(/&lt;/g, "<")
      .replace(/&gt;/g, ">")
      .replace(/&quot;/g, '"')
      .replace(/&apos;/g, "'")
      .replace(/&amp;/g, "&");
  };
  const skipMisc = (): void => {
    for (;;) {
      const ws = /^\s*/.exec(xml.slice(at));
      at += ws?.[0].length ?? 0;
      if (xml.startsWith("<?", at)) {
        const end = xml.indexOf("?>", at);
        if (end < 0) fail("unterminated processing instruction");
        at = end + 2;
      } else if (xml.startsWith("<!--", at)) {
        const end = xml.indexOf("-->", at);
        if (end < 0) fail("unterminated comment");
        at = end + 3;
      } else {
        return;
      }
    }
  };
  const element = (): XmlElement => {
    const open = /^<([A-Za-z_][\w.-]*)/.exec(xml.slice(at));
    if (open === null) return fail("expected a start tag");
    const node: XmlElement = { name: open[1] ?? "", attributes: {}, children: [], text: "" };
    at += open[0].length;
    for (;;) {
      const attr = /^\s+([A-Za-z_][\w.:-]*)\s*=\s*("([^"<]*)"|'([^'<]*)')/.exec(xml.slice(at));
      if (attr === null) break;
      if (node.attributes[attr[1] ?? ""] !== undefined) fail(`duplicate attribute ${attr[1]}`);
      node.attributes[attr[1] ?? ""] = decode(attr[3] ?? attr[4] ?? "");
      at += attr[0].length;
    }
    const end = /^\s*(\/?)>/.exec(xml.slice(at));
    if (end === null) return fail(`malformed start tag <${node.name}>`);
    at += end[0].length;
    if (end[1] === "/") return node;
    for (;;) {
      if (xml.startsWith(`</${node.name}`, at)) {
        const close = new RegExp(`^</${node.name.replace(/[.]/g, "\\.")}\\s*>`).exec(xml.slice(at));
        if (close === null) fail(`malformed end tag of <${node.name}>`);
        at += close?.[0].length ?? 0;
        return node;
      }
      if (xml.startsWith("</", at)) fail(`end tag does not match <${node.name}>`);
      if (xml.startsWith("<!--", at)) {
        const stop = xml.indexOf("-->", at);
        if (stop < 0) fail("unterminated comment");
        at = stop + 3;
      } else if (xml.startsWith("<![CDATA[", at)) {
        const stop = xml.indexOf("]]>", at);
        if (stop < 0) fail("unterminated CDATA");
        node.text += xml.slice(at + 9, stop);
        at = stop + 3;
      } else if (xml.startsWith("<", at)) {
        node.children.push(element());
      } else {
        const stop = xml.indexOf("<", at);
        if (stop < 0) fail(`unterminated <${node.name}>`);
        node.text += decode(xml.slice(at, stop));
        at = stop;
      }
    }
  };
  skipMisc();
  const root = element();
  skipMisc();
  if (at !== xml.length) fail("content after the root element");
  return root;
}
