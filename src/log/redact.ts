/**
 * Redaction of secrets from every string that leaves the process: log lines, error messages,
 * child-process stderr, reports.
 *
 * Two layers: (1) exact values registered at the moment a secret is read from an env var or file
 * (passwords, S3 secret keys, age identities, Symfony keys), so they are masked wherever they
 * appear, even inside another tool's error message; (2) patterns for secrets we never saw as a
 * value: credentials inside DSNs/URLs, `password=` in libpq conninfo, age secret keys.
 */
const MASK = "***";
const registered = new Set<string>();

/** Secrets shorter than this are not registered: masking "a" everywhere would destroy all output. */
const MIN_SECRET_LENGTH = 4;

export function registerSecret(value: string | undefined | null): void {
  if (value === undefined || value === null) return;
  const trimmed = value.trim();
  if (trimmed.length < MIN_SECRET_LENGTH) return;
  registered.add(trimmed);
  if (trimmed !== value && value.length >= MIN_SECRET_LENGTH) registered.add(value);
  // A secret also travels URL-encoded (in DSNs). HTTP basic auth carries base64(user:password),
  // which no per-secret form matches: the Authorization pattern below masks it.
  const encoded = encodeURIComponent(trimmed);
  if (encoded !== trimmed) registered.add(encoded);
  // Inside JSON (a --json error, a tool's JSON output) `"` and `\` arrive escaped.
  const json = JSON.stringify(trimmed).slice(1, -1);
  if (json !== trimmed) registered.add(json);
}

/** For tests only: forget registered secrets. */
export function clearRegisteredSecrets(): void {
  registered.clear();
  childOutputs.length = 0;
}

/**
 * What child processes wrote to stderr, as error messages quote it (exec/process.ts). Kept so a
 * message bound for outside the host (a webhook body) can leave it out: pg_restore and psql quote
 * failing rows ("Key (email)=(…) already exists"), which belong in the log, not in a monitoring
 * service. Only the most recent outputs are kept; a message quotes its own child's.
 */
const childOutputs: string[] = [];
const MAX_CHILD_OUTPUTS = 64;
const MIN_CHILD_OUTPUT = 8;

export function registerChildOutput(text: string): void {
  if (text.length < MIN_CHILD_OUTPUT) return;
  childOutputs.push(text);
  if (childOutputs.length > MAX_CHILD_OUTPUTS) childOutputs.shift();
}

/** `text` with every registered child output replaced by a pointer to the log. */
export function withoutChildOutput(text: string): string {
  let out = text;
  for (const output of [...childOutputs].sort((a, b) => b.length - a.length)) {
    if (out.includes(output)) out = out.split(output).join("[the tool's messages: see the log]");
  }
  return out;
}

const PATTERNS: Array<[RegExp, string]> = [
  // scheme://user:password@host -> scheme://user:***@host
  [/([a-z][a-z0-9+.-]*:\/\/[^\s:/@]*:)([^\s@/]+)@/gi, `$1${MASK}@`],
  // libpq conninfo and query strings: key=value secrets. Only `=`: "password: use passwordEnv"
  // is prose in our own messages, not a secret.
  [
    /\b(password|passwd|pwd|secret|secretAccessKey|secret_access_key|token)(\s*=\s*)("[^"]*"|'[^']*'|[^\s,;&"']+)/gi,
    `$1$2${MASK}`,
  ],
  // JSON: "password": "value"
  [/("(?:password|passwd|secret|secretAccessKey|token|identity)"\s*:\s*)"(?:[^"\\]|\\.)*"/gi, `$1"${MASK}"`],
  // age native identities
  [/AGE-SECRET-KEY-1[0-9A-Z]+/g, `AGE-SECRET-KEY-1${MASK}`],
  // HTTP basic/bearer credentials
  [/\b(Authorization:\s*(?:Basic|Bearer)\s+)[A-Za-z0-9+/=._-]+/gi, `$1${MASK}`],
];

export function redact(text: string): string {
  let out = text;
  if (registered.size > 0) {
    // Longest first, so a secret containing another secret is masked whole.
    const values = [...registered].sort((a, b) => b.length - a.length);
    for (const value of values) {
      if (out.includes(value)) out = out.split(value).join(MASK);
    }
  }
  for (const [pattern, replacement] of PATTERNS) out = out.replace(pattern, replacement);
  return out;
}

/** Redacts every string inside a JSON-like value (for reports and `--json` output). */
export function redactDeep<T>(value: T): T {
  if (typeof value === "string") return redact(value) as T;
  if (Array.isArray(value)) return value.map((item) => redactDeep(item)) as T;
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) out[key] = redactDeep(item);
    return out as T;
  }
  return value;
}
