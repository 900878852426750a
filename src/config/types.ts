/** The loaded configuration: every policy, job and drill, each with the file it came from. */
import type { Drill } from "./drill-schema.js";
import type { Job } from "../kinds/registry.js";
import type { Policy } from "../schema/policy.js";

export interface LoadedPolicy {
  /** Path relative to the config dir, e.g. `policies/nightly.yaml`; use it in messages. */
  file: string;
  policy: Policy;
  /**
   * Where `policy.repository` comes from in the file, for messages: `repository` (the default),
   * or `copies.N` for a view of the policy onto one of its copies (repository/open.ts copyPolicy).
   */
  repositoryField?: string;
}

export interface LoadedJob {
  file: string;
  job: Job;
}

export interface LoadedDrill {
  file: string;
  /** `reportDir` is absolute here: resolved against the config dir at load. */
  drill: Drill;
}

export interface Config {
  /** Absolute config directory. */
  dir: string;
  /** Keyed by name, in name order. */
  policies: Map<string, LoadedPolicy>;
  jobs: Map<string, LoadedJob>;
  drills: Map<string, LoadedDrill>;
}

export interface LoadConfigOptions {
  dir: string;
  /** Variables for `${VAR}` expansion. Default: process.env. */
  env?: NodeJS.ProcessEnv;
}
