/**
 * SIGKILL trials of a symfony-secrets backup (issue 9). A vault is tiny by nature (a key and a
 * few sealed secrets: a few KB), so the work phase is tens of milliseconds and most kills land
 * somewhere in it or just after it; the trials still prove the commit protocol: no manifest
 * without complete artifacts, the previous snapshot intact, the next run and prune clean.
 * No services needed: the vault is a directory written in Symfony's exact format.
 */
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateIdentity } from "../../src/crypto/keys.js";
import { generateVault, sealSecret } from "../support/symfony-vault.js";
import { makeFaultConfig, type FaultConfig } from "./support/fault-config.js";
import { runKillTrials } from "./support/kill-trials.js";

const JOB = "task-secrets";
let config: FaultConfig;
let env: Record<string, string>;

beforeAll(async () => {
  config = await makeFaultConfig("sigkill-secrets");
  const vault = await generateVault(path.join(config.root, "task-app", "config", "secrets", "prod"));
  // Many secrets, so the key check (one sealed-box open per secret) is a measurable step.
  for (let i = 0; i < 200; i += 1) await sealSecret(vault, `SECRET_${i}`, `value-${i}-${"x".repeat(200)}`);
  const escrow = await generateIdentity();
  await config.writeJob({
    name: JOB,
    kind: "symfony-secrets",
    vault: vault.dir,
    decryptionKeyEnv: "SYMFONY_DECRYPTION_SECRET",
    escrowRecipients: [escrow.recipient],
  });
  env = { SYMFONY_DECRYPTION_SECRET: vault.decryptionSecret };
});

afterAll(async () => {
  await config?.remove();
});

describe("SIGKILL during symfony-secrets backups", () => {
  it("never leaves a half snapshot; the next run and prune clean up", async () => {
    const report = await runKillTrials({
      kind: "symfony-secrets",
      job: JOB,
      configDir: config.configDir,
      repositoryDir: config.repositoryDir,
      identity: config.identity,
      env,
    });
    console.log(report.summary);
    expect(report.trials.length).toBeGreaterThanOrEqual(Number(process.env.BACKDRILL_FAULT_TRIALS) || 20);
  });
});
