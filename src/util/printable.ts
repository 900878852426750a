/**
 * Text from outside (a snapshot, a server) made safe to print on a terminal or put on one line of
 * a report: control characters (an ANSI escape that rewrites the screen, a line break that forges
 * a line) become visible `\u001b` escapes; everything else is left as it is.
 */
export function printable(text: string): string {
  const control = /[\u0000-\u001f\u007f-\u009f]/g; // eslint-disable-line no-control-regex
  return text.replace(control, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}
