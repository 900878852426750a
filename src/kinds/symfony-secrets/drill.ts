/**
 * Drill of a symfony-secrets snapshot: open the escrow with the target's escrow identity (an
 * escrow holder's key, not the policy's), parse the vault files without PHP, and check that the
 * key is a consistent keypair matching the vault's public key and that it opens every listed
 * secret. Everything happens in memory: no container (the sandbox phase is empty), no temporary
 * file, no secret value kept (each opened value is zeroed at once), and the key and bundle
 * buffers are zeroed when the drill's scope is released, whatever happened.
 */
import { inJob, OperationError, UsageError } from "../../errors.js";
import type { CheckResult, DrillContext, DrillPhases } from "../contract.js";
import type { EscrowBundle } from "./bundle.js";
import { checkBundleAgainstFacts, openEscrow, readArtifact } from "./escrow.js";
import { renderDecryptionKeyFile } from "./php.js";
import type { SymfonySecretsFacts } from "./facts.js";
import type { SymfonySecretsTarget } from "./target.js";
import type { SymfonySecretsJobInput } from "./types.js";
import { fileNames, inspectVault, wipe } from "./vault.js";

function list(names: readonly string[]): string {
  return names.join(", ");
}

export function drillSymfonySecrets(
  context: DrillContext<SymfonySecretsJobInput, SymfonySecretsTarget, SymfonySecretsFacts>,
): DrillPhases {
  const { job, target, signal, log, facts, scope } = context;
  const identityFile = target.escrowIdentityFile;
  if (identityFile === undefined) {
    throw new UsageError(
      `drill target for job ${job.name} needs escrowIdentityFile (an escrow holder's age identity)`,
    );
  }
  let bundle: EscrowBundle | undefined;
  const details: Record<string, unknown> = { secrets: facts.count };

  return {
    // Nothing to start: the vault is opened in memory.
    sandbox: async () => undefined,

    async restore() {
      const ciphertext = await readArtifact(context.artifacts, facts.artifact, signal).catch(
        (error: unknown) => {
          throw inJob(`job ${job.name}`, error);
        },
      );
      scope.defer("zero the escrow ciphertext", () => wipe(ciphertext));
      try {
        bundle = await openEscrow(ciphertext, identityFile, facts.escrowRecipients);
      } catch (error) {
        signal.throwIfAborted();
        return [
          { name: "escrow opens", ok: false, detail: error instanceof Error ? error.message : String(error) },
        ];
      }
      const opened = bundle;
      scope.defer("zero the escrowed key and vault", () =>
        wipe(opened.key.bytes, ...opened.files.map((file) => file.data)),
      );
      try {
        checkBundleAgainstFacts(opened, facts, context.artifacts);
      } catch (error) {
        bundle = undefined;
        return [
          { name: "escrow opens", ok: false, detail: error instanceof Error ? error.message : String(error) },
        ];
      }
      return [
        {
          name: "escrow opens",
          ok: true,
          detail: `opened with ${identityFile}: ${opened.files.length} vault file(s) and the decryption key (from ${opened.keySource === "env" ? "the environment" : "a key file"} at backup time)`,
        },
      ];
    },

    async checks() {
      if (bundle === undefined) return [];
      const checks: CheckResult[] = [];
      const env = bundle.environment;
      const report = await inspectVault(bundle.files, env, bundle.key);
      const keyProblems: string[] = [];
      if (!report.keypairConsistent) keyProblems.push("the public half does not derive from the secret half");
      if (report.publicKeyMatches === false)
        keyProblems.push(report.publicKeyError ?? `${fileNames.publicKey(env)} does not match`);
      if (report.fingerprint !== facts.publicKeyFingerprint) {
        keyProblems.push(
          `public key ${report.fingerprint} is not the one recorded at backup time (${facts.publicKeyFingerprint})`,
        );
      }
      checks.push({
        name: "keypair",
        ok: keyProblems.length === 0,
        detail:
          keyProblems.length === 0
            ? `consistent keypair, public key ${report.fingerprint}${report.publicKeyMatches === undefined ? ` (no ${fileNames.publicKey(env)} in the vault)` : ` equals ${fileNames.publicKey(env)}`}`
            : keyProblems.join("; "),
      });

      if (report.listError !== undefined) {
        checks.push({ name: "secrets open", ok: false, detail: report.listError });
      } else {
        checks.push({
          name: "secrets open",
          ok: report.failing.length === 0,
          detail:
            report.failing.length === 0
              ? `all ${report.opened} listed secret(s) with a file open with the key`
              : `${report.failing.length} of ${report.listed.length} do not open: ${report.failing.map((f) => `${f.name} (${f.reason})`).join("; ")}`,
        });
      }
      checks.push({
        name: "listed secrets have files",
        ok: report.missingFiles.length === 0,
        detail:
          report.missingFiles.length === 0
            ? `every name in ${fileNames.list(env)} has its file`
            : `listed in ${fileNames.list(env)} without a file: ${list(report.missingFiles)}`,
      });
      checks.push({
        name: "files in list",
        // Symfony ignores such files (it loads the listed names); reported, not a failure.
        ok: true,
        detail:
          report.unlisted.length === 0
            ? `every secret file is in ${fileNames.list(env)}`
            : `secret files not in ${fileNames.list(env)} (Symfony does not load them as env vars): ${list(report.unlisted)}`,
      });

      const expected = new Set(facts.secrets);
      const now = new Set(report.listed);
      const lost = facts.secrets.filter((name) => !now.has(name));
      const gained = report.listed.filter((name) => !expected.has(name));
      checks.push({
        name: "matches backup facts",
        ok: lost.length === 0 && gained.length === 0,
        detail:
          lost.length === 0 && gained.length === 0
            ? `${report.listed.length} secret name(s), as recorded at backup time`
            : [
                lost.length > 0 ? `recorded but not in the escrow: ${list(lost)}` : "",
                gained.length > 0 ? `in the escrow but not recorded: ${list(gained)}` : "",
              ]
                .filter((s) => s !== "")
                .join("; "),
      });

      const required = target.checks?.secrets ?? [];
      if (required.length > 0) {
        const failingNames = new Set(report.failing.map((f) => f.name));
        const absent = required.filter(
          (name) => !now.has(name) || report.missingFiles.includes(name) || failingNames.has(name),
        );
        checks.push({
          name: "required secrets",
          ok: absent.length === 0,
          detail:
            absent.length === 0
              ? `present and opening: ${list(required)}`
              : `missing or not opening: ${list(absent)}`,
        });
      }
      log.info(
        { job: job.name, secrets: report.listed.length, ok: checks.every((c) => c.ok) },
        "symfony-secrets drill: checked",
      );
      Object.assign(details, {
        environment: env,
        secrets: report.listed.length,
        opened: report.opened,
        files: bundle.files.length,
        publicKeyFingerprint: report.fingerprint,
      });
      return checks;
    },

    stack() {
      if (bundle === undefined) {
        throw new OperationError(`job ${job.name}: the escrow did not open, so the stack has no vault`);
      }
      // What `backdrill restore` would write: the vault's files as backed up, and the key file
      // rendered from the escrowed key only when the vault holds none. Buffers, not files: the
      // stack writes them into the smoke test's tmpfs, and this scope zeroes them afterwards.
      const files = bundle.files.map((file) => ({ name: file.name, data: file.data }));
      const keyName = fileNames.privateKey(bundle.environment);
      if (!files.some((file) => file.name === keyName)) {
        const rendered = Buffer.from(renderDecryptionKeyFile(bundle.environment, bundle.key.bytes), "latin1");
        scope.defer("zero the rendered key file", () => wipe(rendered));
        files.push({ name: keyName, data: rendered });
      }
      return { port: null, env: { ENVIRONMENT: bundle.environment }, files, volume: null };
    },

    details: () => details,
  };
}
