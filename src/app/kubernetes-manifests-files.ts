/**
 * The config files for `cron --kubernetes`'s ConfigMap: exactly the policy, job and drill files
 * the loader read (so a stray README or editor backup in the directory stays out), as written:
 * `${VAR}` references are expanded in each pod, where the Secret supplies them, never here.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Config } from "../config/types.js";
import type { ConfigFileText } from "./kubernetes-manifests.js";

export async function readConfigTexts(config: Config): Promise<ConfigFileText[]> {
  const files = [...config.policies.values(), ...config.jobs.values(), ...config.drills.values()].map(
    (loaded) => loaded.file,
  );
  return Promise.all(
    [...new Set(files)]
      .sort()
      .map(async (file) => ({ file, text: await readFile(join(config.dir, file), "utf8") })),
  );
}
