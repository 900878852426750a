/** `files`: a local directory as rsync hard-link snapshots, locally or on an SSH host. */
import * as z from "zod";
import { absolutePathSchema, portSchema } from "../../schema/common.js";
import { showValue } from "../../schema/show.js";
import { jobBaseShape } from "../../schema/job-base.js";

export type Destination =
  { type: "local"; path: string } | { type: "remote"; user: string | undefined; host: string; path: string };

/**
 * User and host reach ssh's command line as one argument (`user@host`), and rsync's: neither may
 * start with `-` (ssh would read `-oProxyCommand=…@host` as an option and run it), and both are
 * held to the characters user and host names have. IPv6 addresses go in brackets.
 */
const REMOTE =
  /^(?:([A-Za-z0-9_][A-Za-z0-9._-]{0,63})@)?([A-Za-z0-9_](?:[A-Za-z0-9._-]{0,252})|\[[0-9a-fA-F:.]+\]):(\/.*)$/;

/** Why a path is not a plain absolute path: `..` segments and control characters are refused. */
function pathProblem(path: string): boolean {
  // eslint-disable-next-line no-control-regex
  return path.split("/").includes("..") || /[\u0000-\u001f\u007f]/.test(path);
}

/**
 * `/abs/path` or `[user@]host:/abs/path` (rsync's own spelling); undefined when neither. The same
 * rule reads a job's destination, a restore's `--to` and the destination in a snapshot's facts.
 */
export function parseDestination(text: string): Destination | undefined {
  if (text.startsWith("/")) return pathProblem(text) ? undefined : { type: "local", path: text };
  const match = REMOTE.exec(text);
  if (match === null) return undefined;
  const [, user, host, path] = match;
  if (host === undefined || path === undefined || pathProblem(path)) return undefined;
  return { type: "remote", user, host, path };
}

export const filesJobSchema = z
  .strictObject({
    ...jobBaseShape,
    kind: z.literal("files"),
    source: absolutePathSchema.meta({ description: "Directory to back up, e.g. /mnt/task/files." }),
    destination: z
      .string()
      .superRefine((value, ctx) => {
        if (parseDestination(value) === undefined) {
          ctx.addIssue({
            code: "custom",
            message: `expected an absolute path (/srv/backup) or user@host:/absolute/path, got ${showValue(value)}`,
          });
        }
      })
      .meta({ description: "Where the rsync snapshot tree lives: /abs/path or user@host:/abs/path." }),
    sshKeyFile: absolutePathSchema
      .optional()
      .meta({ description: "SSH private key for a remote destination." }),
    knownHostsFile: absolutePathSchema
      .optional()
      .meta({ description: "known_hosts file pinning the destination's host key. Default: ssh's." }),
    sshPort: portSchema.optional().meta({ description: "SSH port of a remote destination. Default: 22." }),
    exclude: z
      .array(z.string().min(1))
      .default([])
      .meta({ description: "rsync --exclude patterns, relative to source." }),
  })
  .superRefine((value, ctx) => {
    const destination = parseDestination(value.destination);
    if (destination === undefined) return;
    if (destination.type === "remote") {
      if (value.sshKeyFile === undefined) {
        ctx.addIssue({
          code: "custom",
          path: ["sshKeyFile"],
          message: `a remote destination (${destination.host}) needs sshKeyFile: the absolute path of the SSH private key to log in with`,
        });
      }
      return;
    }
    for (const key of ["sshKeyFile", "knownHostsFile", "sshPort"] as const) {
      if (value[key] !== undefined) {
        ctx.addIssue({
          code: "custom",
          path: [key],
          message: `only used with a remote destination (user@host:/path); remove it, destination ${value.destination} is local`,
        });
      }
    }
    if (
      destination.path === value.source ||
      destination.path.startsWith(`${value.source.replace(/\/$/, "")}/`)
    ) {
      ctx.addIssue({
        code: "custom",
        path: ["destination"],
        message:
          "destination is inside source; each backup would copy the previous ones. Choose a directory outside source",
      });
    }
  });

export type FilesJob = z.infer<typeof filesJobSchema>;
