/**
 * Doctor checks of a `files` job: the source can be read, rsync is installed, and the destination
 * is writable (locally) or reachable over ssh with rsync on the far side. Read-only.
 */
import type { FilesJob } from "./job-schema.js";
import { checkWritableDir, firstVersion, readableDir } from "../../preflight/fs-checks.js";
import { fail, ok, warn, type CheckSpec } from "../../preflight/runner.js";
import { run } from "../../exec/process.js";
import type { JobSource, KindDoctorContext } from "../contract.js";
import { locateDestination } from "./destination.js";
import { RemotePlace } from "./place.js";
import { shellQuote } from "./ssh.js";

export function filesDoctor(_context: KindDoctorContext, { job }: JobSource<FilesJob>): CheckSpec[] {
  const subject = `job ${job.name}`;
  const checks: CheckSpec[] = [
    { subject, name: "source", run: () => readableDir(job.source, "source") },
    {
      subject,
      name: "rsync",
      run: async (signal) => {
        const result = await run("rsync", ["--version"], { signal, description: "rsync --version" });
        return ok(`rsync ${firstVersion(result.stdout)}`);
      },
    },
  ];
  const located = locateDestination(job);
  if (!located.remote || !(located.place instanceof RemotePlace)) {
    checks.push({ subject, name: "destination", run: () => checkWritableDir(located.root, "destination") });
    return checks;
  }
  const place = located.place;
  checks.push(
    {
      subject,
      name: "ssh",
      run: async (signal) => {
        // OpenSSH prints its version on stderr.
        const result = await run("ssh", ["-V"], { signal, description: "ssh -V" });
        return ok(firstVersion(result.stderr || result.stdout));
      },
    },
    {
      subject,
      name: "destination",
      run: async (signal) => {
        // One login answers three questions: ssh works, the directory is there, rsync is installed.
        const root = shellQuote(located.root);
        const result = await place.sh(
          `command -v rsync >/dev/null || exit 4; if [ -d ${root} ]; then [ -w ${root} ] || exit 5; exit 0; fi; exit 3`,
          `check ${located.root}`,
          { signal, okExitCodes: [0, 3, 4, 5] },
        );
        const where = place.describe(located.root);
        switch (result.exitCode) {
          case 4:
            return fail(`${where}: rsync is not installed on the destination host`, "install rsync there");
          case 5:
            return fail(`${where} is not writable by the ssh user`, "chown the directory to the ssh user");
          case 3:
            return warn(`${where} does not exist yet; the first backup creates it`);
          default:
            return ok(`${where} reachable over ssh, writable, rsync present`);
        }
      },
    },
  );
  return checks;
}
