/**
 * Regression (issue 15): a symfony-secrets job whose decryption key variable is unset failed with
 * `FAILED task-secrets issues.map is not a function` (its own error wrapper rebuilt the
 * ConfigError through its constructor). Now it names the variable and the job file, exit 2.
 */
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import YAML from "yaml";
import { afterAll, beforeAll, expect, it } from "vitest";
import { generateIdentity } from "../../src/crypto/keys.js";
import { runCli } from "../support/run-cli.js";
import { generateVault, sealSecret } from "../support/symfony-vault.js";

let root: string;

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), "backdrill-secrets-cli-"));
  const vault = await generateVault(path.join(root, "vault", "prod"));
  await sealSecret(vault, "DATABASE_PASSWORD", "secret");
  const policyKey = await generateIdentity();
  const escrowKey = await generateIdentity();
  const config = path.join(root, "config");
  await mkdir(path.join(config, "policies"), { recursive: true });
  await mkdir(path.join(config, "jobs"), { recursive: true });
  await writeFile(
    path.join(config, "policies", "nightly.yaml"),
    YAML.stringify({
      name: "nightly",
      repository: { type: "local", path: path.join(root, "repository") },
      encryption: { recipients: [policyKey.recipient] },
      retention: { keepLast: 3 },
      rpo: "26h",
    }),
  );
  await writeFile(
    path.join(config, "jobs", "task-secrets.yaml"),
    YAML.stringify({
      name: "task-secrets",
      kind: "symfony-secrets",
      policy: "nightly",
      vault: vault.dir,
      decryptionKeyEnv: "SYMFONY_DECRYPTION_SECRET",
      escrowRecipients: [escrowKey.recipient],
    }),
  );
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

it("fails a symfony-secrets backup whose key variable is unset with exit 2, naming the variable", async () => {
  const result = await runCli(["backup", "task-secrets", "--config-dir", path.join(root, "config")], {
    SYMFONY_DECRYPTION_SECRET: undefined,
  });
  expect(result.code).toBe(2);
  const output = `${result.stdout}\n${result.stderr}`;
  expect(output).toMatch(
    /task-secrets.*jobs\/task-secrets\.yaml: decryptionKeyEnv: environment variable SYMFONY_DECRYPTION_SECRET is not set/,
  );
  expect(output).not.toMatch(/is not a function/);
});
