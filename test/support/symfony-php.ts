/**
 * Symfony's own secrets vault code, run by real PHP in the backdrill-test/symfony-php image
 * (docker/symfony-php): writes vaults the way `bin/console secrets:*` does and reads vaults back
 * the way a Symfony application does. test/support/php/symfony-vault.php is the PHP side.
 *
 * Also the scenarios every Symfony release is put through, shared by the integration test
 * (test/integration/symfony-secrets/real-symfony.test.ts) and by the fixture generator
 * (scripts/symfony-vault-fixtures.ts) whose output the unit tests read.
 */
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { execa } from "execa";
import { testLabels } from "./docker.js";
import { symfonyPhpImage } from "./images.js";
import { REPO_ROOT } from "./test-env.js";

/**
 * The Symfony releases in the image: Debian bookworm's, trixie's and forky's. Should forky move on
 * to another release, the PHP script says which ones the image has and this list follows.
 */
export const SYMFONY_VERSIONS = ["5.4", "6.4", "7.4"] as const;
export type SymfonyVersion = (typeof SYMFONY_VERSIONS)[number];

export type VaultOp =
  | { op: "generateKeys" }
  | { op: "seal"; name: string; value: Uint8Array | string }
  | { op: "remove"; name: string }
  | { op: "list" }
  | { op: "revealAll" };

export interface ListedName {
  name: string;
  /** How PHP holds the array key: "0" and "123" are integers, "007" is a string. */
  type: "int" | "string";
}

export interface RevealedValue {
  name: string;
  /** base64 of the value; null when Symfony could not reveal it. */
  value: string | null;
}

export type VaultOpResult =
  | { op: "generateKeys"; ok: boolean }
  | { op: "seal"; name: string }
  | { op: "remove"; name: string; ok: boolean }
  | { op: "list"; names: ListedName[] }
  | { op: "revealAll"; values: RevealedValue[]; message: string | null };

export interface SymfonyRun {
  /** Debian version of php-symfony-framework-bundle, e.g. "6.4.50+dfsg-0+deb13u1". */
  symfony: string;
  php: string;
  results: VaultOpResult[];
}

/** One vault's operations in a run. */
export interface VaultJob {
  /** The vault directory (its basename is the environment); created when missing. */
  dir: string;
  ops: readonly VaultOp[];
  /** Open the vault with this keypair, as SYMFONY_DECRYPTION_SECRET does, not with its key files. */
  key?: Uint8Array;
}

const SCRIPT_DIR = path.join(REPO_ROOT, "test/support/php");

/**
 * Runs the jobs with the given Symfony release in one throwaway container without network (a
 * container start costs more than all the PHP work). `root` is mounted, so every vault must lie
 * under it; paths keep their basename, files are written as the calling user. One result per job.
 */
export async function runSymfony(
  version: SymfonyVersion,
  root: string,
  jobs: readonly VaultJob[],
): Promise<SymfonyRun[]> {
  const vaults = [];
  for (const job of jobs) {
    const relative = path.relative(root, job.dir);
    if (relative === "" || relative.startsWith("..") || path.isAbsolute(relative))
      throw new Error(`${job.dir} is not inside ${root}`);
    await mkdir(job.dir, { recursive: true });
    vaults.push({
      vault: path.posix.join("/vaults", ...relative.split(path.sep)),
      ...(job.key === undefined ? {} : { key: Buffer.from(job.key).toString("base64") }),
      ops: job.ops.map((op) =>
        op.op === "seal" ? { ...op, value: Buffer.from(op.value).toString("base64") } : op,
      ),
    });
  }
  const labels = Object.entries(testLabels()).flatMap(([key, value]) => ["--label", `${key}=${value}`]);
  const user = `${process.getuid?.() ?? 0}:${process.getgid?.() ?? 0}`;
  const result = await execa(
    "docker",
    [
      "run",
      "--rm",
      "-i",
      "--network",
      "none",
      ...labels,
      "--user",
      user,
      "-v",
      `${root}:/vaults`,
      "-v",
      `${SCRIPT_DIR}:/php:ro`,
      symfonyPhpImage(),
      "php",
      "/php/symfony-vault.php",
      version,
    ],
    { input: JSON.stringify({ vaults }), reject: false, timeout: 120_000 },
  );
  if (result.exitCode !== 0) {
    throw new Error(
      `Symfony ${version} (${symfonyPhpImage()}) failed with exit ${result.exitCode}: ${result.stderr || result.stdout}`,
    );
  }
  const output = JSON.parse(result.stdout) as {
    symfony: string;
    php: string;
    vaults: Array<{ results: VaultOpResult[] }>;
  };
  return output.vaults.map(({ results }) => ({ symfony: output.symfony, php: output.php, results }));
}

/** The names of a `list` result, in list.php order. */
export function listedNames(run: SymfonyRun): ListedName[] {
  const list = run.results.find((r) => r.op === "list");
  if (list === undefined) throw new Error("the run has no list operation");
  return list.names;
}

/** The values of a `revealAll` result, decoded. */
export function revealedValues(run: SymfonyRun): Map<string, Buffer | null> {
  const reveal = run.results.find((r) => r.op === "revealAll");
  if (reveal === undefined) throw new Error("the run has no revealAll operation");
  return new Map(
    reveal.values.map(({ name, value }) => [name, value === null ? null : Buffer.from(value, "base64")]),
  );
}

export const ALL_BYTES = Uint8Array.from({ length: 256 }, (_, i) => i);
export const QUOTES = `price: $5 and $HOME, {$x} "double" 'single' \\ back\\slash \\x41 %25`;
export const MULTILINE = "line one\nline two\r\nline three\n";
export const UNICODE = "h\u00e9llo w\u00f6rld \u2014 \u65e5\u672c\u8a9e \u{1f510} \u202e";

/**
 * The secrets of the main scenario, in the order they are set. Names cover what PHP turns into
 * integer keys ("0", "1", "3", "123", PHP_INT_MAX) and what it keeps as strings ("007", beyond
 * PHP_INT_MAX), natural order (a2 before a10) and case; "2" is removed afterwards, leaving a gap
 * after the keys VarExporter leaves out.
 */
export const MAIN_SECRETS: ReadonlyArray<readonly [string, Uint8Array | string]> = [
  ["a10", "ten"],
  ["a2", "two"],
  ["A1", "upper-case a"],
  ["0", "zero"],
  ["1", "one"],
  ["2", "two, removed again"],
  ["3", "three"],
  ["123", "one two three"],
  ["007", "double-o seven"],
  ["9223372036854775807", "PHP_INT_MAX"],
  ["99999999999999999999", "beyond PHP_INT_MAX"],
  ["_", "underscore"],
  ["EMPTY", ""],
  ["BINARY", ALL_BYTES],
  ["MULTILINE", MULTILINE],
  ["UNICODE", UNICODE],
  ["QUOTES", QUOTES],
  ["DATABASE_PASSWORD", "s3cr3t-db-password-6f1e"],
];

/** Names left in the main scenario's vault. */
export const MAIN_NAMES = MAIN_SECRETS.map(([name]) => name).filter((name) => name !== "2");

export interface Scenario {
  /** Directory name under the fixture version directory; the vault is `<name>/prod`. */
  name: string;
  ops: VaultOp[];
}

export const SCENARIOS: readonly Scenario[] = [
  {
    name: "main",
    ops: [
      { op: "generateKeys" },
      ...MAIN_SECRETS.map(([name, value]): VaultOp => ({ op: "seal", name, value })),
      // Set again with the same value: 6.4 leaves list.php alone then, 5.4 and 7.4 rewrite it.
      { op: "seal", name: "a2", value: "two" },
      { op: "remove", name: "2" },
      { op: "list" },
      { op: "revealAll" },
    ],
  },
  {
    // Only integer-like names, in order: list.php is nothing but bare values.
    name: "integers",
    ops: [
      { op: "generateKeys" },
      { op: "seal", name: "1", value: "one" },
      { op: "seal", name: "0", value: "zero" },
      { op: "seal", name: "2", value: "two" },
      { op: "list" },
      { op: "revealAll" },
    ],
  },
  {
    // `secrets:generate-keys` alone: keys, no list.php.
    name: "keys-only",
    ops: [{ op: "generateKeys" }, { op: "list" }, { op: "revealAll" }],
  },
  {
    // Every secret removed again: `return [];`.
    name: "emptied",
    ops: [
      { op: "generateKeys" },
      { op: "seal", name: "GONE", value: "soon removed" },
      { op: "remove", name: "GONE" },
      { op: "list" },
      { op: "revealAll" },
    ],
  },
];

/** Writes every scenario's vault into `<dir>/<scenario.name>/prod` with Symfony `version`, in one run. */
export async function writeScenarios(
  version: SymfonyVersion,
  dir: string,
  scenarios: readonly Scenario[] = SCENARIOS,
): Promise<Map<string, { vaultDir: string; run: SymfonyRun }>> {
  const dirs = scenarios.map((scenario) => path.join(dir, scenario.name, "prod"));
  const runs = await runSymfony(
    version,
    dir,
    scenarios.map((scenario, i) => ({ dir: dirs[i] as string, ops: scenario.ops })),
  );
  return new Map(
    scenarios.map((scenario, i) => [
      scenario.name,
      { vaultDir: dirs[i] as string, run: runs[i] as SymfonyRun },
    ]),
  );
}
