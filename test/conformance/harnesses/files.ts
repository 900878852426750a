/**
 * Conformance harness of the `files` kind: a local source tree (unicode and space-containing
 * names, a symlink, empty directories, unusual modes), a local destination for the hard-link
 * snapshots, drills into the sshd + rsync image, restores into fresh local directories.
 */
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { makeFileTree, MiB } from "../../support/file-tree.js";
import { sshdImage } from "../../support/images.js";
import type { KindHarness, RestoreTarget } from "../kind-conformance.js";
import { expectTreeContains, treeState } from "./tree.js";

export const filesHarness: KindHarness = {
  kind: "files",
  async start(work) {
    const tree = await makeFileTree(path.join(work, "source"), { smallFiles: 300, largeFiles: [4 * MiB] });
    const destination = path.join(work, "destination");
    const killDestination = path.join(work, "kill-destination");
    let targets = 0;
    return {
      job: { source: tree.root, destination },
      killJob: { source: tree.root, destination: killDestination },
      env: {},
      target: { image: sshdImage() },
      watchDirs: [killDestination],
      async restoreTarget(): Promise<RestoreTarget> {
        targets += 1;
        const dir = path.join(work, `restored-${targets}`);
        return {
          to: dir,
          state: () => treeState(dir),
          occupy: async () => {
            await mkdir(dir, { recursive: true, mode: 0o700 });
            await writeFile(path.join(dir, "operator-note.txt"), "someone's file\n");
          },
          verify: () => expectTreeContains(tree.root, dir),
        };
      },
      stop: async () => undefined,
    };
  },
};
