/** `files`: a local directory as rsync hard-link snapshots, locally or on an SSH host. */
import * as z from "zod";
import { absolutePathSchema, portSchema } from "../../schema/common.js";
import { showValue } from "../../schema/show.js";
import { jobBaseShape } from "../../schema/job-base.js";

export type Destination =
  { type: "local"; path: string } | { type: "remote"; user: string | undefined; host: string; path: string };

const REMOTE = /^(?:([^@\s:/]+)@)?([^@\s:/]+|\[[0-9a-fA-F:]+\]):(\/.*)$/;

/** `/abs/path` or `[user@]host:/abs/path` (rsync's own spelling); undefined when neither. */
export function parseDestination(text: string): Destination | undefined {
  if (text.startsWith("/")) return { type: "local", path: text };
  const match = REMOTE.exec(text);
  if (match === null) return undefined;
  const [, user, host, path] = match;
  if (host === undefined || path === undefined) return undefined;
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
