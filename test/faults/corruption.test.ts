/**
 * Corrupted artifacts and deleted manifests (issue 9): for every job kind, a real snapshot of the
 * demo's TasK-like stack, then damage of each type, each time to an artifact picked at random
 * among the snapshot's artifacts (facts included):
 *
 *   - bit flip: one bit at a random offset of the ciphertext;
 *   - truncation: the ciphertext cut at a random length;
 *   - deleted object: the artifact removed;
 *   - deleted manifest: snapshots/<job>/<id>.json removed (its copy in the data directory stays).
 *
 * After each, `backdrill verify <job>` must exit 1 naming the snapshot and the artifact (or the
 * manifest), and `backdrill drill monthly --job <job>` must exit 1 with a report (JSON and
 * Markdown) naming the snapshot, the artifact and the kind of damage. Then the pristine state is
 * put back (a deleted manifest by `verify --repair`, which must restore the exact bytes) and the
 * next trial starts from an intact repository. The drills fail before any container starts (the
 * runner checks every artifact first), which is what keeps ~100 trials within the budget; a drill
 * that missed the damage would go on to restore and be reported as undetected.
 *
 * The random choices come from a seeded generator; the seed is printed with the summary so a
 * failing trial can be replayed with CORRUPTION_SEED=<seed>.
 */
import { readFile, rm, truncate, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { JOB_KINDS, type JobKind } from "../../src/kinds/registry.js";
import type { DrillReport } from "../../src/report/types.js";
import type { SnapshotManifest } from "../../src/repository/manifest.js";
import { DRILL } from "../../scripts/demo/config.js";
import { withDemoWorld, type DemoWorld, type WorldOutcome } from "../../scripts/demo/world.js";

/** Every job kind: a kind added later gets corrupted too. */
const KINDS: readonly JobKind[] = JOB_KINDS;
const CORRUPTIONS = ["bit flip", "truncation", "deleted object", "deleted manifest"] as const;
type Corruption = (typeof CORRUPTIONS)[number];
/** Trials per kind: verify is a hash pass, a drill a hash pass plus config and report writing. */
const TRIALS: Readonly<Record<Corruption, { verify: number; drill: number }>> = {
  "bit flip": { verify: 20, drill: 3 },
  truncation: { verify: 3, drill: 2 },
  "deleted object": { verify: 3, drill: 2 },
  "deleted manifest": { verify: 1, drill: 1 },
};
/** What the drill report must say for each kind of damage. */
const DAMAGE_WORDING: Readonly<Record<Corruption, RegExp>> = {
  "bit flip": /sha256 mismatch|failed authentication/,
  truncation: /size mismatch|truncated/,
  "deleted object": /is missing/,
  "deleted manifest": /manifest was deleted/,
};

interface Tally {
  detected: number;
  total: number;
  /** One line per undetected or misreported trial. */
  misses: string[];
}

type KindResult = Record<Corruption, { verify: Tally; drill: Tally }>;

interface CorruptionResult {
  seed: number;
  snapshots: Record<string, { job: string; id: string; artifacts: string[] }>;
  results: Record<string, KindResult>;
  /** Where the time goes: the backups, and the average verify and drill run. */
  timings: { backupMs: number; verifyMs: number[]; drillMs: number[] };
  durationMs: number;
}

const seed = Number(process.env.CORRUPTION_SEED ?? Math.floor(Math.random() * 2 ** 31));

/** mulberry32: small, seedable, good enough to pick offsets. */
function generator(start: number): (below: number) => number {
  let state = start >>> 0;
  return (below) => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * below);
  };
}

const tally = (): Tally => ({ detected: 0, total: 0, misses: [] });

let outcome: WorldOutcome<CorruptionResult>;
let result: CorruptionResult;

async function body(world: DemoWorld): Promise<CorruptionResult> {
  const started = Date.now();
  const random = generator(seed);
  const configArgs = ["--config-dir", world.config.configDir];
  const repo = world.config.repositoryDir;
  // The postgres-base engine reads the WAL archive with $BACKDRILL_IDENTITY_FILE.
  const drillEnv = { BACKDRILL_IDENTITY_FILE: world.keys.identityFile };

  const timings: CorruptionResult["timings"] = { backupMs: 0, verifyMs: [], drillMs: [] };
  const backupStarted = Date.now();
  const backup = await world.cli(["backup", "--all", "--json", ...configArgs]);
  timings.backupMs = Date.now() - backupStarted;
  if (backup.code !== 0) throw new Error(`backup --all failed (exit ${backup.code}): ${backup.stderr}`);
  const backups = JSON.parse(backup.stdout) as Array<{ job: string; ok: boolean; snapshot: string | null }>;

  const out: CorruptionResult = { seed, snapshots: {}, results: {}, timings, durationMs: 0 };
  for (const kind of KINDS) {
    const job = world.included.find((item) => item.kind === kind)?.job;
    if (job === undefined) throw new Error(`the demo world has no ${kind} job`);
    const id = backups.find((entry) => entry.job === job)?.snapshot;
    if (id === undefined || id === null) throw new Error(`no snapshot of ${job}`);
    const manifestFile = path.join(repo, "snapshots", job, `${id}.json`);
    const manifestBytes = await readFile(manifestFile);
    const manifest = JSON.parse(manifestBytes.toString("utf8")) as SnapshotManifest;
    out.snapshots[kind] = { job, id, artifacts: manifest.artifacts.map((a) => a.name) };
    const kindResult = Object.fromEntries(
      CORRUPTIONS.map((corruption) => [corruption, { verify: tally(), drill: tally() }]),
    ) as KindResult;
    out.results[kind] = kindResult;

    // The repository must be intact before the first trial, or "detected" would mean nothing.
    const clean = await world.cli(["verify", job, ...configArgs]);
    if (clean.code !== 0) throw new Error(`verify ${job} fails before any damage: ${clean.stdout}`);

    for (const corruption of CORRUPTIONS) {
      const { verify: verifyTrials, drill: drillTrials } = TRIALS[corruption];
      for (let trial = 0; trial < Math.max(verifyTrials, drillTrials); trial += 1) {
        const record = manifest.artifacts[random(manifest.artifacts.length)];
        if (record === undefined) throw new Error(`snapshot ${id} has no artifacts`);
        const file = path.join(repo, record.path);
        const pristine = await readFile(file);
        let what: string;
        switch (corruption) {
          case "bit flip": {
            const offset = random(pristine.length);
            const bit = 1 << random(8);
            const damaged = Buffer.from(pristine);
            damaged[offset] = (damaged[offset] ?? 0) ^ bit;
            await writeFile(file, damaged);
            what = `${record.name} bit ${bit} at ${offset}/${pristine.length}`;
            break;
          }
          case "truncation": {
            const length = random(pristine.length);
            await truncate(file, length);
            what = `${record.name} cut to ${length}/${pristine.length}`;
            break;
          }
          case "deleted object":
            await rm(file);
            what = `${record.name} deleted`;
            break;
          case "deleted manifest":
            await rm(manifestFile);
            what = `manifest of ${id} deleted`;
            break;
        }
        // For a deleted manifest the message names the manifest; otherwise the artifact.
        const names =
          corruption === "deleted manifest"
            ? [id, `snapshots/${job}/${id}.json`]
            : [id, `artifact ${record.name}`];

        if (trial < verifyTrials) {
          const tallied = kindResult[corruption].verify;
          tallied.total += 1;
          const verifyStarted = Date.now();
          const verify = await world.cli(["verify", job, ...configArgs]);
          timings.verifyMs.push(Date.now() - verifyStarted);
          const output = verify.stdout + verify.stderr;
          if (verify.code === 1 && names.every((name) => output.includes(name))) tallied.detected += 1;
          else tallied.misses.push(`${what}: exit ${verify.code}: ${output.trim().slice(0, 400)}`);
        }

        if (trial < drillTrials) {
          const tallied = kindResult[corruption].drill;
          tallied.total += 1;
          const drillStarted = Date.now();
          const drill = await world.cli(["drill", DRILL, "--job", job, "--json", ...configArgs], drillEnv);
          timings.drillMs.push(Date.now() - drillStarted);
          const problem = await drillProblem(drill, id, names, DAMAGE_WORDING[corruption]);
          if (problem === null) tallied.detected += 1;
          else tallied.misses.push(`${what}: ${problem}`);
        }

        if (corruption === "deleted manifest") {
          // `verify --repair` puts the manifest back from its copy, byte for byte.
          const repair = await world.cli(["verify", job, "--repair", ...configArgs]);
          const restored = await readFile(manifestFile).catch(() => Buffer.alloc(0));
          if (repair.code !== 0 || !restored.equals(manifestBytes)) {
            kindResult[corruption].verify.misses.push(
              `verify --repair: exit ${repair.code}, manifest ${restored.equals(manifestBytes) ? "restored" : "NOT restored"}: ${repair.stdout.trim().slice(0, 300)}`,
            );
            await writeFile(manifestFile, manifestBytes, { mode: 0o600 });
          }
        } else {
          await writeFile(file, pristine, { mode: 0o600 });
        }
      }
    }
    // Every trial put the pristine state back: the snapshot must be intact again.
    const after = await world.cli(["verify", job, ...configArgs]);
    if (after.code !== 0) throw new Error(`verify ${job} fails after the trials: ${after.stdout}`);
  }
  out.durationMs = Date.now() - started;
  return out;
}

/** null when the drill failed with a report naming everything; otherwise what was wrong. */
async function drillProblem(
  drill: { code: number; stdout: string; stderr: string },
  id: string,
  names: string[],
  wording: RegExp,
): Promise<string | null> {
  if (drill.code !== 1) return `exit ${drill.code}: ${(drill.stdout + drill.stderr).trim().slice(0, 400)}`;
  let runs: Array<DrillReport & { files: { json: string; markdown: string } }>;
  try {
    runs = JSON.parse(drill.stdout) as typeof runs;
  } catch {
    return `no JSON result: ${drill.stderr.trim().slice(0, 400)}`;
  }
  const run = runs[0];
  const target = run?.targets[0];
  if (run === undefined || target === undefined) return "no target in the report";
  if (target.ok || run.ok) return `the target passed: ${JSON.stringify(target).slice(0, 400)}`;
  if (target.snapshot !== id) return `the report names snapshot ${target.snapshot}, not ${id}`;
  const error = target.error ?? "";
  for (const name of names) if (!error.includes(name)) return `the report's error lacks "${name}": ${error}`;
  if (!wording.test(error)) return `the report's error does not say ${wording}: ${error}`;
  // The files people and tools read say the same.
  const json = JSON.parse(await readFile(run.files.json, "utf8")) as DrillReport;
  if (json.targets[0]?.error !== target.error) return "the JSON report file differs from --json";
  const markdown = await readFile(run.files.markdown, "utf8");
  for (const name of names) if (!markdown.includes(name)) return `the Markdown report lacks "${name}"`;
  // Nothing was restored: the damage was caught before containers (restoreMs 0).
  if (target.timings.restoreMs !== 0)
    return `the drill restored before failing (${target.timings.restoreMs} ms)`;
  return null;
}

beforeAll(async () => {
  outcome = await withDemoWorld({ handleSignals: false, smallFiles: 20 }, body);
  if (outcome.value === undefined)
    throw outcome.error instanceof Error ? outcome.error : new Error(String(outcome.error));
  result = outcome.value;
}, 900_000);

afterAll(() => {
  if (result === undefined) return;
  const { backupMs, verifyMs, drillMs } = result.timings;
  const mean = (values: number[]): string =>
    `${(values.reduce((sum, v) => sum + v, 0) / Math.max(1, values.length) / 1000).toFixed(2)} s`;
  const lines = [
    `corruption trials (seed ${result.seed}): ${(result.durationMs / 1000).toFixed(1)} s after the stack started; ` +
      `backup --all ${(backupMs / 1000).toFixed(1)} s, ${verifyMs.length} verify runs (mean ${mean(verifyMs)}), ` +
      `${drillMs.length} drill runs (mean ${mean(drillMs)})`,
  ];
  lines.push(`  ${"kind".padEnd(16)} ${CORRUPTIONS.map((c) => c.padEnd(26)).join("")}`);
  for (const kind of KINDS) {
    const row = result.results[kind];
    if (row === undefined) continue;
    const cells = CORRUPTIONS.map((c) => {
      const { verify, drill } = row[c];
      return `verify ${verify.detected}/${verify.total} drill ${drill.detected}/${drill.total}`.padEnd(26);
    });
    lines.push(`  ${kind.padEnd(16)} ${cells.join("")}`);
  }
  console.log(lines.join("\n"));
});

describe("corrupted artifacts and deleted manifests", () => {
  it.each(KINDS)("%s: verify and the drill detect and name every corruption", (kind) => {
    const row = result.results[kind];
    expect(row).toBeDefined();
    if (row === undefined) return;
    expect(result.snapshots[kind]?.artifacts).toContain("facts.json");
    for (const corruption of CORRUPTIONS) {
      const { verify, drill } = row[corruption];
      expect(verify.misses, `${kind} ${corruption} verify (seed ${result.seed})`).toEqual([]);
      expect(drill.misses, `${kind} ${corruption} drill (seed ${result.seed})`).toEqual([]);
      expect(verify.detected).toBe(TRIALS[corruption].verify);
      expect(drill.detected).toBe(TRIALS[corruption].drill);
    }
  });

  it("released the stack", () => {
    expect(outcome.cleanupFailures).toEqual([]);
    expect(outcome.sweptContainers).toBe(0);
  });
});
