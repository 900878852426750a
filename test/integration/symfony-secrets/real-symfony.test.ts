/**
 * Vaults written by Symfony itself, through the CLI and back into Symfony: for each Symfony
 * release in backdrill-test/symfony-php (5.4, 6.4, 7.4), real PHP writes vaults with Symfony's
 * SodiumVault (the scenarios of test/support/symfony-php.ts: integer-like names VarExporter
 * writes without a key, a gap after a removed secret, natural order, empty, binary, multi-line and
 * unicode values, an empty vault and one that never had a secret), then `backdrill backup`
 * escrows them, `backdrill drill` opens every secret from the escrow, `backdrill restore` writes
 * them back byte for byte, and Symfony reveals every secret of the restored vault, from its key
 * file and from SYMFONY_DECRYPTION_SECRET, to the values it was given.
 *
 * Also a vault whose key lives only in SYMFONY_DECRYPTION_SECRET: the restore renders
 * decrypt.private.php, and Symfony loads its key from that rendered file.
 */
import { cp, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateIdentity } from "../../../src/crypto/keys.js";
import { runCli } from "../../support/run-cli.js";
import {
  MAIN_SECRETS,
  revealedValues,
  runSymfony,
  SCENARIOS,
  SYMFONY_VERSIONS,
  writeScenarios,
  type VaultJob,
  type SymfonyRun,
  type SymfonyVersion,
} from "../../support/symfony-php.js";

let root: string;
let configDir: string;
let policyIdentityFile: string;
let escrowIdentityFile: string;
let escrowRecipient: string;
const FIXTURES = path.resolve(import.meta.dirname, "../../fixtures/symfony-secrets");

const jobName = (version: SymfonyVersion, scenario: string): string =>
  `sf${version.replace(".", "")}-${scenario}`;

async function addJob(name: string, vault: string, extra = ""): Promise<void> {
  await writeFile(
    path.join(configDir, "jobs", `${name}.yaml`),
    `name: ${name}\nkind: symfony-secrets\npolicy: test\nvault: ${vault}\nescrowRecipients: [${escrowRecipient}]\n${extra}`,
  );
}

/** Every file of a directory, name → bytes. */
async function filesOf(dir: string): Promise<Map<string, Buffer>> {
  const names = (await readdir(dir)).sort();
  return new Map(await Promise.all(names.map(async (n) => [n, await readFile(path.join(dir, n))] as const)));
}

async function expectSameFiles(restored: string, original: string): Promise<void> {
  const want = await filesOf(original);
  const got = await filesOf(restored);
  expect([...got.keys()]).toEqual([...want.keys()]);
  for (const [name, data] of want) expect(got.get(name)?.equals(data), name).toBe(true);
  for (const name of got.keys()) expect((await stat(path.join(restored, name))).mode & 0o777).toBe(0o600);
}

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), "backdrill-real-symfony-"));
  configDir = path.join(root, "config");
  await mkdir(path.join(configDir, "policies"), { recursive: true });
  await mkdir(path.join(configDir, "jobs"));
  await mkdir(path.join(configDir, "drills"));
  const [policy, escrow] = await Promise.all([generateIdentity(), generateIdentity()]);
  escrowRecipient = escrow.recipient;
  policyIdentityFile = path.join(root, "identity.txt");
  escrowIdentityFile = path.join(root, "escrow-identity.txt");
  await writeFile(policyIdentityFile, `${policy.identity}\n`, { mode: 0o600 });
  await writeFile(escrowIdentityFile, `${escrow.identity}\n`, { mode: 0o600 });
  await writeFile(
    path.join(configDir, "policies/test.yaml"),
    `name: test\nrepository: { type: local, path: ${root}/repo }\nencryption: { recipients: [${policy.recipient}] }\nretention: { keepLast: 2 }\nrpo: 26h\n`,
  );
});

afterAll(async () => {
  if (root !== undefined) await rm(root, { recursive: true, force: true });
});

describe.each(SYMFONY_VERSIONS)("Symfony %s", (version) => {
  let runs: Map<string, { vaultDir: string; run: SymfonyRun }>;
  const envJob = jobName(version, "env-key");
  let envVaultDir: string;
  let envKey: string;

  it("writes the vaults (list.php exactly as in the fixtures)", async () => {
    runs = await writeScenarios(version, path.join(root, version, "app"));
    for (const [scenario, written] of runs) {
      await addJob(jobName(version, scenario), written.vaultDir);
      expect(written.run.symfony.startsWith(`${version}.`)).toBe(true);
    }
    const main = runs.get("main") as { vaultDir: string; run: SymfonyRun };
    const revealed = revealedValues(main.run);
    for (const [name, value] of MAIN_SECRETS) {
      if (name !== "2") expect(revealed.get(name)?.equals(Buffer.from(value)), name).toBe(true);
    }
    expect(revealed.has("2")).toBe(false);
    // list.php holds no key and no date: a release that starts writing it differently fails here.
    for (const scenario of ["main", "integers", "emptied"]) {
      const listFile = (dir: string): string => path.join(dir, "prod.list.php");
      expect(await readFile(listFile((runs.get(scenario) as { vaultDir: string }).vaultDir), "latin1")).toBe(
        await readFile(listFile(path.join(FIXTURES, version, scenario, "prod")), "latin1"),
      );
    }

    // The same vault with its key only in SYMFONY_DECRYPTION_SECRET, as in many deployments.
    envVaultDir = path.join(root, version, "env-app", "prod");
    await cp(main.vaultDir, envVaultDir, { recursive: true });
    const keyFile = await readFile(path.join(envVaultDir, "prod.decrypt.private.php"), "latin1");
    envKey = /SYMFONY_DECRYPTION_SECRET=(\S+)/.exec(keyFile)?.[1] ?? "";
    await rm(path.join(envVaultDir, "prod.decrypt.private.php"));
    await addJob(envJob, envVaultDir, "decryptionKeyEnv: SYMFONY_DECRYPTION_SECRET\n");
  });

  it("backs them up: every vault escrowed", async () => {
    const jobs = [...SCENARIOS.map((s) => jobName(version, s.name)), envJob];
    const result = await runCli(["backup", ...jobs, "--config-dir", configDir, "--json"], {
      SYMFONY_DECRYPTION_SECRET: envKey,
    });
    expect(result.code, result.stderr).toBe(0);
  });

  it("doctor passes for them, an empty vault and one without list.php included", async () => {
    const jobs = SCENARIOS.map((s) => jobName(version, s.name));
    const result = await runCli(["doctor", ...jobs, "--config-dir", configDir]);
    expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);
    expect(result.stdout).toContain(`${MAIN_SECRETS.length - 1} secret(s) listed`);
    expect(result.stdout).toContain("no secret set yet (no prod.list.php)");
  });

  it("drills them: every secret opens from the escrow", async () => {
    const targets = [...SCENARIOS.map((s) => jobName(version, s.name)), envJob]
      .map((job) => `  - { job: ${job}, escrowIdentityFile: ${escrowIdentityFile} }\n`)
      .join("");
    const drill = `drill-${version.replace(".", "")}`;
    await writeFile(
      path.join(configDir, "drills", `${drill}.yaml`),
      `name: ${drill}\nidentityFile: ${policyIdentityFile}\nreportDir: ${root}/reports-${drill}\ntargets:\n${targets}`,
    );
    const result = await runCli(["drill", drill, "--config-dir", configDir, "--json"]);
    expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);
    const stdout = result.stdout;
    expect(stdout).toContain(`all ${MAIN_SECRETS.length - 1} listed secret(s) with a file open with the key`);
  });

  it("restores them byte for byte, and Symfony reveals every secret of the restored vaults", async () => {
    const restoredRoot = path.join(root, version, "restored");
    const reads: Array<{ scenario: string; want: Map<string, Buffer | null> }> = [];
    const jobs: VaultJob[] = [];
    for (const scenario of SCENARIOS) {
      const { vaultDir, run } = runs.get(scenario.name) as { vaultDir: string; run: SymfonyRun };
      const target = path.join(restoredRoot, scenario.name, "prod");
      const result = await runCli([
        "restore",
        jobName(version, scenario.name),
        "--to",
        target,
        "--identity",
        policyIdentityFile,
        "--escrow-identity",
        escrowIdentityFile,
        "--config-dir",
        configDir,
      ]);
      expect(result.code, result.stderr).toBe(0);
      await expectSameFiles(target, vaultDir);

      // Symfony's own SYMFONY_DECRYPTION_SECRET line of this vault's key file.
      const keyFile = await readFile(path.join(vaultDir, "prod.decrypt.private.php"), "latin1");
      const key = Buffer.from(/SYMFONY_DECRYPTION_SECRET=(\S+)/.exec(keyFile)?.[1] ?? "", "base64");
      expect(key.length).toBe(64);
      // Once with the restored key file, once with the key as SYMFONY_DECRYPTION_SECRET gives it.
      for (const options of [{}, { key }]) {
        jobs.push({ dir: target, ops: [{ op: "revealAll" }], ...options });
        reads.push({ scenario: scenario.name, want: revealedValues(run) });
      }
    }
    const back = await runSymfony(version, restoredRoot, jobs);
    back.forEach((run, i) => {
      const { scenario, want } = reads[i] as (typeof reads)[number];
      const got = revealedValues(run);
      expect([...got.keys()], scenario).toEqual([...want.keys()]);
      for (const [name, value] of want)
        expect(got.get(name)?.equals(value as Buffer), `${scenario} ${name}`).toBe(true);
    });
  });

  it("restores a vault whose key was in SYMFONY_DECRYPTION_SECRET; Symfony loads the rendered key file", async () => {
    const target = path.join(root, version, "restored", "env-key", "prod");
    const result = await runCli([
      "restore",
      envJob,
      "--to",
      target,
      "--identity",
      policyIdentityFile,
      "--escrow-identity",
      escrowIdentityFile,
      "--config-dir",
      configDir,
    ]);
    expect(result.code, result.stderr).toBe(0);
    const { vaultDir } = runs.get("main") as { vaultDir: string };
    const original = await filesOf(vaultDir);
    const restored = await filesOf(target);
    expect([...restored.keys()]).toEqual([...original.keys()]);
    for (const [name, data] of original) {
      // Symfony's key file carries the date it was written; the rendered one the restore's.
      if (name !== "prod.decrypt.private.php") expect(restored.get(name)?.equals(data), name).toBe(true);
    }
    const undated = (file: Buffer | undefined): string =>
      (file ?? "").toString("latin1").replace(/ on .*\n/, "\n");
    expect(undated(restored.get("prod.decrypt.private.php"))).toBe(
      undated(original.get("prod.decrypt.private.php")),
    );
    const [back] = await runSymfony(version, path.dirname(target), [
      { dir: target, ops: [{ op: "revealAll" }] },
    ]);
    const want = revealedValues((runs.get("main") as { run: SymfonyRun }).run);
    const got = revealedValues(back as SymfonyRun);
    expect([...got.keys()]).toEqual([...want.keys()]);
    for (const [name, value] of want) expect(got.get(name)?.equals(value as Buffer), name).toBe(true);
  });
});
