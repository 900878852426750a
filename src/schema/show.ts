/** Renders a config value inside an error message: short, unambiguous, and typed. */
export function showValue(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "an empty value";
  if (typeof value === "string") {
    const text = value.length > 80 ? `${value.slice(0, 77)}...` : value;
    return JSON.stringify(text);
  }
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint")
    return String(value);
  if (Array.isArray(value)) return "a list";
  if (value instanceof Date) return JSON.stringify(value.toISOString());
  if (typeof value === "object") return "a mapping";
  return typeof value;
}

/** `a, b or c` for lists of allowed values in messages. */
export function listWords(words: readonly string[], conjunction = "or"): string {
  if (words.length <= 1) return words.join("");
  return `${words.slice(0, -1).join(", ")} ${conjunction} ${words[words.length - 1] ?? ""}`;
}

/** Dotted path as users see it: `targets.0.rto`. */
export function formatPath(path: readonly PropertyKey[]): string {
  return path.map((part) => String(part)).join(".");
}

/** A URL without user:password@, for descriptions, in case one ever gets past validation. */
export function safeUrl(text: string): string {
  try {
    const url = new URL(text);
    url.username = "";
    url.password = "";
    return url.toString().replace(/\/$/, "");
  } catch {
    return text;
  }
}
