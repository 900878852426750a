/**
 * Building blocks shared by the policy, job and drill schemas. Every custom message says what is
 * expected and, where it is safe, what was found; values of fields that may hold secrets are never
 * echoed.
 */
import { isAbsolute } from "node:path";
import * as z from "zod";
import { recipientProblem } from "./age-recipient.js";
import { DURATION_HELP, isDuration } from "./duration.js";
import { cronProblem, timezoneProblem } from "./schedule.js";
import { listWords, showValue } from "./show.js";

export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** Policy, job and drill names: they become parts of repository keys and report file names. */
export const nameSchema = z
  .string()
  .regex(NAME_PATTERN, {
    error: (iss) =>
      `expected a name of letters, digits, ".", "_" or "-" (at most 64, starting with a letter or digit), got ${showValue(iss.input)}; it becomes part of repository paths`,
  })
  .meta({ description: "Unique name; letters, digits, '.', '_', '-'. Used in repository paths." });

export const descriptionSchema = z
  .string()
  .optional()
  .meta({ description: "Free text for humans; shown by `backdrill validate`." });

export const durationSchema = z
  .string({
    // `rto: 30` is a common slip; say what a duration looks like instead of "expected a string".
    error: (iss) =>
      iss.input === undefined ? undefined : `expected ${DURATION_HELP}, got ${showValue(iss.input)}`,
  })
  .regex(/^(?:\d+[smhdw])+$/, {
    abort: true,
    error: (iss) => `expected ${DURATION_HELP}, got ${showValue(iss.input)}`,
  })
  .refine(isDuration, { error: "a duration must be longer than zero" });

export const absolutePathSchema = z
  .string()
  .regex(/^\//, {
    abort: true,
    error: (iss) => {
      const input = typeof iss.input === "string" ? iss.input : "";
      const hint = input.startsWith("~")
        ? "; ~ is not expanded here, write the full path"
        : input.startsWith("$")
          ? "; environment variables are written ${VAR}"
          : "";
      return `expected an absolute path (starting with /), got ${showValue(iss.input)}${hint}`;
    },
  })
  .refine((value) => isAbsolute(value) && !value.split("/").includes(".."), {
    error: 'a path must not contain ".." segments; write it out in full',
  });

export const ENV_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * The NAME of an environment variable. The value is deliberately not echoed: a common mistake is
 * `passwordEnv: ${TASK_DB_PASSWORD}`, which expands to the secret itself.
 */
export const envNameSchema = z
  .string()
  .regex(ENV_NAME_PATTERN, {
    error:
      "expected the NAME of an environment variable (like TASK_DB_PASSWORD), not its value; " +
      "write the name without ${...}",
  })
  .meta({ description: "Name of an environment variable that holds the secret (not the secret itself)." });

export const nonEmptyString = z.string().min(1);

export const portSchema = z.number().int().min(1).max(65535);

/** HTTP(S) URL without credentials: user:password@ would put a secret in the config file. */
export function httpUrlSchema(credentialHint: string, options: { allowEmpty?: boolean } = {}) {
  return z.string().superRefine((value, ctx) => {
    if (value === "" && options.allowEmpty === true) return;
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      ctx.addIssue({
        code: "custom",
        message: `expected a URL like http://127.0.0.1:9000, got ${showValue(value)}`,
      });
      return;
    }
    if (url.username !== "" || url.password !== "") {
      ctx.addIssue({
        code: "custom",
        message: `secrets are not allowed in config files; remove "user:password@" from the URL and use ${credentialHint}`,
      });
      return;
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      ctx.addIssue({
        code: "custom",
        message: `expected an http:// or https:// URL, got scheme ${JSON.stringify(url.protocol.replace(/:$/, ""))}`,
      });
    }
  });
}

/** S3 endpoint: empty means AWS itself (so `${BACKUP_S3_ENDPOINT:-}` works), else an HTTP(S) URL. */
export const s3EndpointSchema = httpUrlSchema("accessKeyIdEnv and secretAccessKeyEnv", { allowEmpty: true })
  .transform((value) => (value === "" ? undefined : value))
  .optional()
  .meta({ description: "S3-compatible endpoint URL (MinIO). Empty or absent: AWS S3." });

export const regionSchema = z.string().min(1).default("us-east-1");

export const ageRecipientSchema = z
  .string()
  .superRefine((value, ctx) => {
    const problem = recipientProblem(value);
    if (problem !== undefined) ctx.addIssue({ code: "custom", message: problem });
  })
  .meta({ description: "age X25519 public key (age1...)." });

export const cronSchema = z
  .string()
  .superRefine((value, ctx) => {
    const problem = cronProblem(value);
    if (problem !== undefined) ctx.addIssue({ code: "custom", message: problem });
  })
  .meta({ description: 'Cron expression (croner syntax, optional seconds field), e.g. "15 2 * * *".' });

export const timezoneSchema = z
  .string()
  .superRefine((value, ctx) => {
    const problem = timezoneProblem(value);
    if (problem !== undefined) ctx.addIssue({ code: "custom", message: problem });
  })
  .meta({ description: "IANA time zone for the schedule, e.g. Europe/Moscow. Default: the host's." });

/**
 * For object-level rules that only look at which fields are present: run them even when a sibling
 * field failed, so one `validate` run reports "port is not a number" and "host is missing" together.
 * Such rules must not trust field types.
 */
export const EVEN_WITH_FIELD_ERRORS = {
  when: (payload: z.core.ParsePayload): boolean =>
    payload.value !== null && typeof payload.value === "object" && !Array.isArray(payload.value),
};

/** Adds an issue unless exactly one (or, with `optional`, at most one) of `keys` is set. */
export function requireOneOf(
  value: Record<string, unknown>,
  keys: readonly string[],
  ctx: z.RefinementCtx,
  options: { optional?: boolean; why?: string },
): void {
  const present = keys.filter((key) => value[key] !== undefined);
  if (present.length > 1) {
    ctx.addIssue({
      code: "custom",
      path: [present[1] ?? ""],
      message: `set only one of ${listWords(keys)}; ${listWords(present, "and")} are both set`,
    });
  } else if (present.length === 0 && options.optional !== true) {
    ctx.addIssue({
      code: "custom",
      message: `set one of ${listWords(keys)}${options.why === undefined ? "" : ` (${options.why})`}`,
    });
  }
}

export function requireBothOrNeither(
  value: { accessKeyIdEnv?: string | undefined; secretAccessKeyEnv?: string | undefined },
  ctx: z.RefinementCtx,
): void {
  const hasId = value.accessKeyIdEnv !== undefined;
  const hasSecret = value.secretAccessKeyEnv !== undefined;
  if (hasId === hasSecret) return;
  const missing = hasId ? "secretAccessKeyEnv" : "accessKeyIdEnv";
  ctx.addIssue({
    code: "custom",
    path: [missing],
    message: `set ${missing} too: accessKeyIdEnv and secretAccessKeyEnv go together (omit both to use the AWS default credential chain)`,
  });
}
