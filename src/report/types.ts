import type { CheckResult } from "../kinds/contract.js";

/** One drill target's result; the JSON report's `targets[]` entry (docs/architecture.md, "Drill timings" for its timings). */
export interface TargetReport {
  job: string;
  kind: string;
  /** Snapshot id restored, or null when none could be selected. */
  snapshot: string | null;
  ok: boolean;
  /** Why the target failed before or outside the checks (no snapshot, restore error...). */
  error?: string;
  /**
   * What snapshot selection passed over or accepted with reservations (a newer manifest refused
   * for its signature or its date, an unsigned snapshot allowed): the drill ran, but someone
   * should look at the repository.
   */
  warnings?: string[];
  /** Age of the snapshot when the drill started. */
  backupAgeSeconds: number | null;
  /** The RTO budget, or null when none is configured. */
  rtoSeconds: number | null;
  /**
   * The same phases for every kind (docs/architecture.md, "Drill timings"):
   * fetchMs: every artifact's ciphertext read and checked against the manifest (size, sha256),
   * then the facts downloaded, decrypted and validated; setupMs: the throwaway sandbox started
   * and ready (nothing restored yet); restoreMs: the snapshot loaded into it (artifacts stream
   * in, so their second read and decryption is here); checksMs: the comparison with the facts;
   * totalMs: from the target's start to its end (snapshot selection included), vs the RTO.
   */
  timings: { fetchMs: number; setupMs: number; restoreMs: number; checksMs: number; totalMs: number };
  checks: CheckResult[];
  details?: Record<string, unknown>;
}

export interface DrillReport {
  drill: string;
  startedAt: string;
  finishedAt: string;
  ok: boolean;
  host: string;
  backdrillVersion: string;
  targets: TargetReport[];
  /** A stack drill's part (drill file `stack:`): the smoke test, the stack RTO, per-service phases. */
  stack?: StackReport;
}

/** One service of a stack drill: its target's phases on the stack's clock. */
export interface StackServiceReport {
  service: string;
  job: string;
  kind: string;
  /** `<service>:<port>` in the stack's network; null when the kind runs no container. */
  address: string | null;
  /** Its target passed (restore and checks). */
  ok: boolean;
  /** When its target started, in ms after the drill's start (the targets run in file order). */
  startMs: number;
  timings: TargetReport["timings"];
}

export interface SmokeTestReport {
  image: string;
  /** `command`: its exit code is the verdict; `http`: the polled URL's status is. */
  mode: "command" | "http";
  ok: boolean;
  /** null when it did not exit (timed out, or an http smoke test's server). */
  exitCode: number | null;
  /** In ms after the drill's start; with durationMs, the smoke test's bar in the timeline. */
  startMs: number;
  durationMs: number;
  /** The tail of its output (redacted): the report's evidence of what the application said. */
  output: string;
  /** Services its `not ok <service>: ...` lines named. */
  failedServices: string[];
}

/** docs/architecture.md, "Stack drills". */
export interface StackReport {
  /** The Docker network the stack ran in (removed since). */
  network: string;
  ok: boolean;
  /** The stack's RTO budget, or null when none is configured. */
  rtoSeconds: number | null;
  /** Stack RTO: from the drill's start until the smoke test passed; null when it did not. */
  rtoMs: number | null;
  services: StackServiceReport[];
  smokeTest: SmokeTestReport | null;
  /** Isolation, services present, the smoke test and each line it reported, within the RTO. */
  checks: CheckResult[];
  /** Why the stack failed outside its checks (the network could not be created, ...). */
  error?: string;
}
