/**
 * Escaping for the two places values enter the page: HTML text/attributes, and the inline JSON
 * data block. Job names, check details and errors come from repositories and report files: hostile
 * until escaped.
 */

const HTML_ESCAPES: Readonly<Record<string, string>> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

/** For element content and quoted attribute values alike. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => HTML_ESCAPES[char] ?? char);
}

/**
 * JSON to place inside `<script type="application/json">`. The HTML parser ends a script element
 * at the first `</script` whatever the JSON means, and `<!--` switches it into an escaped state; so
 * every `<`, `>` and `&` becomes a JSON \u escape (same value once parsed), as do U+2028/U+2029
 * so the text is also valid JavaScript should anyone paste it into a script.
 */
export function jsonForScript(value: unknown): string {
  return JSON.stringify(value).replace(
    /[<>&\u2028\u2029]/g,
    (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}
