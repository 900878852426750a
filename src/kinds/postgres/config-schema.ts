/** The config of a PostgreSQL job that both PostgreSQL kinds share: the server, and the client tools. */
import * as z from "zod";
import {
  absolutePathSchema,
  envNameSchema,
  EVEN_WITH_FIELD_ERRORS,
  nonEmptyString,
  portSchema,
  requireOneOf,
} from "../../schema/common.js";

export const sslmodeSchema = z.enum(["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]);

const HOST_FIELDS = ["host", "port", "user", "database", "passwordEnv", "passwordFile"] as const;

/**
 * A PostgreSQL server: host, port, user and a password reference, or `urlEnv` naming an env var
 * that holds a whole postgres:// URL (password included). Validated as one object so a mix-up gets
 * one clear message; the output is a proper union so engines can switch on `"urlEnv" in connection`.
 */
export const connectionSchema = z
  .strictObject({
    host: nonEmptyString.optional().meta({ description: "Host name, IP address, or Unix socket directory." }),
    port: portSchema.optional().meta({ description: "Default: 5432." }),
    user: nonEmptyString.optional(),
    database: nonEmptyString
      .optional()
      .meta({ description: "Database to connect to for discovery and pg_dumpall. Default: postgres." }),
    passwordEnv: envNameSchema.optional(),
    passwordFile: absolutePathSchema
      .optional()
      .meta({ description: "File holding the password (one trailing newline is ignored)." }),
    urlEnv: envNameSchema.optional().meta({
      description: "Name of an env var holding a postgres:// URL (with password); instead of host etc.",
    }),
    sslmode: sslmodeSchema.optional().meta({ description: "libpq sslmode. Default: libpq's (prefer)." }),
  })
  .superRefine((value, ctx) => {
    if (value.urlEnv !== undefined) {
      for (const key of HOST_FIELDS) {
        if (value[key] !== undefined) {
          ctx.addIssue({
            code: "custom",
            path: [key],
            message: `not used with urlEnv (the URL in ${String(value.urlEnv)} says where to connect); remove ${key} or urlEnv`,
          });
        }
      }
      return;
    }
    for (const key of ["host", "user"] as const) {
      if (value[key] === undefined) {
        ctx.addIssue({
          code: "custom",
          path: [key],
          message:
            "required field is missing (or set urlEnv to the name of an env var holding a postgres:// URL)",
        });
      }
    }
    requireOneOf(value, ["passwordEnv", "passwordFile"], ctx, { optional: true });
  }, EVEN_WITH_FIELD_ERRORS)
  .transform((value): HostConnection | UrlConnection => {
    if (value.urlEnv !== undefined) {
      return value.sslmode === undefined
        ? { urlEnv: value.urlEnv }
        : { urlEnv: value.urlEnv, sslmode: value.sslmode };
    }
    const { urlEnv: _urlEnv, ...host } = value;
    return { ...host, host: host.host ?? "", user: host.user ?? "", port: host.port ?? 5432 };
  });

export type SslMode = z.infer<typeof sslmodeSchema>;

export interface HostConnection {
  host: string;
  port: number;
  user: string;
  database?: string | undefined;
  passwordEnv?: string | undefined;
  passwordFile?: string | undefined;
  sslmode?: SslMode | undefined;
}

export interface UrlConnection {
  urlEnv: string;
  sslmode?: SslMode | undefined;
}

/** Where PostgreSQL client tools run: in a container of the server's image, or from a host dir. */
export const toolsSchema = z
  .strictObject({
    image: nonEmptyString.optional().meta({
      description: "Run pg_dump & co. in a container of this image (match the server's major version).",
    }),
    binDir: absolutePathSchema
      .optional()
      .meta({ description: "Host directory holding pg_dump & co., e.g. /usr/lib/postgresql/17/bin." }),
  })
  .superRefine(
    (value, ctx) =>
      requireOneOf(value, ["image", "binDir"], ctx, {
        why: "image runs the client tools in a container, binDir uses the host's; their major version must match the server",
      }),
    EVEN_WITH_FIELD_ERRORS,
  )
  .transform((value): { image: string } | { binDir: string } =>
    value.image !== undefined ? { image: value.image } : { binDir: value.binDir ?? "" },
  );

export type Connection = z.infer<typeof connectionSchema>;
export type Tools = z.infer<typeof toolsSchema>;

/** Credentials come as a pair; neither means the SDK's default chain (instance role, ~/.aws). */
