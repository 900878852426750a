/**
 * Signed snapshots end to end through the CLI on a local repository: the key made by
 * `keys signing-keygen`, backups signed with it, hosts that only hold the public key (in the
 * policy or in a drill) verifying them, and the usage errors around it. The attacks are in
 * hostile/repository-forgery.test.ts.
 */
import { cp, readFile, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { layout } from "../../src/repository/layout.js";
import { runCli } from "../support/run-cli.js";
import { makeStack } from "./hostile/repository-harness.js";

process.env.TESTCONTAINERS_RYUK_DISABLED = "true";

describe("signed snapshots", () => {
  it("keys signing-keygen writes a 0600 key, prints only the public key, refuses to overwrite", async () => {
    const stack = await makeStack({ repository: { type: "local" } });
    try {
      const out = path.join(stack.root, "new-key.pem");
      const made = await runCli(["keys", "signing-keygen", "--out", out]);
      expect(made.code, made.stderr).toBe(0);
      expect(made.stdout).toMatch(/^ed25519:[A-Za-z0-9+/]{43}=\n$/);
      expect((await stat(out)).mode & 0o777).toBe(0o600);
      const pem = await readFile(out, "utf8");
      expect(pem).toMatch(/^-----BEGIN PRIVATE KEY-----/);
      const body = pem.split("\n")[1] ?? "";
      expect(made.stdout + made.stderr).not.toContain(body);
      const again = await runCli(["keys", "signing-keygen", "--out", out]);
      expect(again.code).toBe(2);
      expect(again.stderr).toMatch(/--out .*new-key\.pem: file exists; refusing to overwrite a signing key/);
      expect(await readFile(out, "utf8")).toBe(pem);
      const none = await runCli(["keys", "signing-keygen"]);
      expect(none.code).toBe(2);
      expect(none.stderr).toMatch(/keys signing-keygen needs --out FILE/);
    } finally {
      await stack.close();
    }
  });

  it("a signed backup verifies on the backup host and on a host that holds only the public key", async () => {
    const stack = await makeStack({ repository: { type: "local" }, signing: true });
    try {
      const id = await stack.backup();
      const manifest = await stack.readManifest("files", id);
      expect(manifest.signature).toMatchObject({ algorithm: "ed25519", publicKey: stack.publicKey });
      // The copy is the same bytes, signature included.
      expect(await stack.readText(layout.manifestCopy("files", id))).toBe(
        await stack.readText(layout.manifest("files", id)),
      );
      for (const command of [["verify"], ["snapshots"]]) {
        const result = await stack.cli(...command);
        expect(result.code, `${command.join(" ")}: ${result.stdout}${result.stderr}`).toBe(0);
      }

      // A restore host: the same config, but its policy lists the public key and no key file.
      const reader = path.join(stack.root, "reader-config");
      await cp(stack.configDir, reader, { recursive: true });
      const policyFile = path.join(reader, "policies", "p.yaml");
      const policy = await readFile(policyFile, "utf8");
      await writeFile(
        policyFile,
        policy.replace(/signing: .*\n/, `signing: { publicKeys: [${stack.publicKey}] }\n`),
      );
      const env = { BACKDRILL_IDENTITY_FILE: stack.identityFile };
      const to = stack.restoreTarget();
      const restored = await runCli(["restore", "files", "--to", to, "--config-dir", reader], env);
      expect(restored.code, restored.stderr).toBe(0);
      expect((await stack.restored(to)).sort()).toEqual(["a.txt", "sub"]);

      // Trusting another key only: refused, one line naming the snapshot and the key.
      const other = await runCli(["keys", "signing-keygen", "--out", path.join(stack.root, "other.pem")]);
      await writeFile(
        policyFile,
        policy.replace(/signing: .*\n/, `signing: { publicKeys: [${other.stdout.trim()}] }\n`),
      );
      const refusedTo = stack.restoreTarget();
      const refused = await runCli(["restore", "files", "--to", refusedTo, "--config-dir", reader], env);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain(
        `snapshot of job files (the repository has none it trusts; passed over: snapshot files/${id}`,
      );
      expect(refused.stderr).toContain(`is signed by ${stack.publicKey}, which is not a trusted signing key`);
      expect(await stack.restored(refusedTo)).toEqual([]);
    } finally {
      await stack.close();
    }
  });

  it("a drill's own public keys make signatures required, even when the policy has no signing", async () => {
    const stack = await makeStack({ repository: { type: "local" } });
    try {
      const id = await stack.backup();
      const drillFile = path.join(stack.configDir, "drills", "pinned.yaml");
      await stack.pinnedDrill("pinned", id);
      await writeFile(
        drillFile,
        `${await readFile(drillFile, "utf8")}signing: { publicKeys: [${stack.publicKey}] }\n`,
      );
      const drill = await stack.cli("drill", "pinned");
      expect(drill.code).toBe(1);
      const report = await stack.drillReport("pinned");
      expect(report.targets[0]).toMatchObject({ ok: false, snapshot: id });
      expect(report.targets[0]?.error).toMatch(
        /is not signed, and signing is configured.*refusing to act on it/,
      );
    } finally {
      await stack.close();
    }
  });

  it("validate warns about a policy without signing; a backup cannot sign without its key file", async () => {
    const stack = await makeStack({ repository: { type: "local" } });
    try {
      const validate = await stack.cli("validate");
      expect(validate.code).toBe(0);
      expect(validate.stdout).toMatch(/signing: +none \(WARNING: snapshots are not signed/);
      expect(validate.stderr).toContain("policies/p.yaml: snapshots are not signed");
      await stack.setSigning(true);
      const signed = await stack.cli("validate");
      expect(signed.stdout).toMatch(/signing: +key .*signing-key\.pem, 1 trusted public key/);
      expect(signed.stderr).not.toContain("not signed");
      const policyFile = path.join(stack.configDir, "policies", "p.yaml");
      const policy = await readFile(policyFile, "utf8");
      await writeFile(policyFile, policy.replace("signing-key.pem", "missing-key.pem"));
      const backup = await stack.cli("backup", "files");
      expect(backup.code).toBe(2);
      expect(backup.stdout + backup.stderr).toMatch(
        /policies\/p\.yaml: signing\.keyFile .*missing-key\.pem: no such file/,
      );
      expect(await stack.manifestIds()).toEqual([]);
    } finally {
      await stack.close();
    }
  });
});
