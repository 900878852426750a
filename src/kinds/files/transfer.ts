/**
 * Copies a snapshot directory to a restore target with rsync. rsync cannot copy between two
 * remote hosts, so a remote snapshot going to a remote target (a drill container, an operator's
 * host) is staged in a private temp dir on this machine first; that temp dir belongs to the
 * scope and is removed on success, failure and Ctrl-C.
 */
import path from "node:path";
import { makePrivateTempDir } from "../../fs/private-temp-dir.js";
import type { Scope } from "../../lifecycle/scope.js";
import type { Logger } from "../../log/logger.js";
import { LocalPlace, type Place } from "./place.js";
import { baseRsyncArgs, contentsOf, runRsync } from "./rsync.js";

export interface TreeAt {
  place: Place;
  dir: string;
  remote: boolean;
}

/** A private (0700) temp dir owned by the scope; a killed run's is swept by the next one. */
export async function privateTempDir(scope: Scope, prefix: string): Promise<string> {
  return (await makePrivateTempDir(scope, prefix, "temp dir")).path;
}

export function needsStaging(source: TreeAt, target: TreeAt): boolean {
  return source.remote && target.remote;
}

export async function copyTree(
  source: TreeAt,
  target: TreeAt,
  options: { scope: Scope; signal: AbortSignal; log: Logger; extraArgs?: string[] },
): Promise<void> {
  let from = source;
  if (needsStaging(source, target)) {
    const stage = path.join(await privateTempDir(options.scope, "backdrill-files-stage-"), "tree");
    options.log.info(
      { from: source.place.describe(source.dir), stage },
      "files: staging the snapshot on this machine",
    );
    await runRsync(
      [
        ...baseRsyncArgs(),
        ...source.place.rsyncArgs(),
        contentsOf(source.place.rsyncPath(source.dir)),
        contentsOf(stage),
      ],
      {
        signal: options.signal,
        description: `rsync of ${source.place.describe(source.dir)} to a staging dir`,
      },
    );
    from = { place: new LocalPlace(), dir: stage, remote: false };
  }
  const viaSsh = from.remote ? from.place.rsyncArgs() : target.place.rsyncArgs();
  await runRsync(
    [
      ...baseRsyncArgs(),
      ...(options.extraArgs ?? []),
      ...viaSsh,
      contentsOf(from.place.rsyncPath(from.dir)),
      contentsOf(target.place.rsyncPath(target.dir)),
    ],
    {
      signal: options.signal,
      description: `rsync of ${from.place.describe(from.dir)} to ${target.place.describe(target.dir)}`,
    },
  );
}
