/**
 * Drill history kept in the repository, end to end through the CLI: a real drill (files kind,
 * restored into an sshd container) on a signed local repository writes its record there; a
 * second config directory pointing at the same repository (its own, empty report directory)
 * shows the same history in `status --json` and in `report --html`; a host without an age
 * identity skips the records with a note; records forged by someone with write access to the
 * repository (no keys) are refused and named, never shown as a run.
 */
import { cp, readFile, readdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encryptBuffer } from "../../src/crypto/buffer.js";
import { identityToRecipient, readIdentityFile } from "../../src/crypto/keys.js";
import { layout } from "../../src/repository/layout.js";
import { runCli, type CliResult } from "../support/run-cli.js";
import { makeStack, type Stack } from "./hostile/repository-harness.js";

process.env.TESTCONTAINERS_RYUK_DISABLED = "true";

interface StatusJson {
  ok: boolean;
  drills: Array<{
    drill: string;
    last: { at: string; ok: boolean; report: string; targets: Array<{ job: string; ok: boolean }> } | null;
  }>;
  warnings: string[];
}

let stack: Stack;
let reader: string;
let readerReports: string;
let recordKey: string;

/** `status --json` of a config directory, parsed (exit code kept). */
async function statusOf(configDir: string, env: Record<string, string | undefined> = {}) {
  const result = await runCli(["status", "--json", "--config-dir", configDir], {
    BACKDRILL_IDENTITY_FILE: stack.identityFile,
    ...env,
  });
  return { result, json: JSON.parse(result.stdout) as StatusJson };
}

/** The chart data block and the job sections of `report --html` written for a config directory. */
async function pageOf(configDir: string, name: string): Promise<{ data: unknown; html: string }> {
  const out = path.join(stack.root, `${name}.html`);
  const result: CliResult = await runCli(["report", "--html", out, "--config-dir", configDir], {
    BACKDRILL_IDENTITY_FILE: stack.identityFile,
  });
  expect(result.code, result.stderr).toBe(0);
  const html = await readFile(out, "utf8");
  const data = /<script type="application\/json" id="history-data">(.*?)<\/script>/s.exec(html)?.[1];
  expect(data).toBeDefined();
  return { data: JSON.parse(data ?? "null"), html };
}

beforeAll(async () => {
  stack = await makeStack({ repository: { type: "local" }, signing: true });
  await stack.backup();
  // Both jobs inside their RPO: status exits 0 unless a drill failed.
  await stack.backup("other");
  const drill = await stack.cli("drill", "d");
  expect(drill.code, drill.stdout + drill.stderr).toBe(0);
  const keys = await stack.keys(layout.drillHistoryPrefix("files"));
  expect(keys).toHaveLength(1);
  recordKey = keys[0] ?? "";
  // A second host's config: the same files, its own report directory (empty, never written).
  reader = path.join(stack.root, "reader-config");
  await cp(stack.configDir, reader, { recursive: true });
  readerReports = path.join(stack.root, "reader-reports");
  const drillFile = path.join(reader, "drills", "d.yaml");
  const drillYaml = await readFile(drillFile, "utf8");
  await writeFile(drillFile, drillYaml.replace(/reportDir: .*\n/, `reportDir: ${readerReports}\n`));
}, 300_000);

afterAll(async () => {
  await stack?.close();
});

describe("drill history in the repository", () => {
  it("a drill writes one record per job: signed, its report encrypted, nothing of it in clear", async () => {
    expect(recordKey).toMatch(/^history\/files\/drills\/\d{8}T\d{6}Z-d\.json$/);
    const record = JSON.parse(await stack.readText(recordKey)) as Record<string, unknown>;
    expect(Object.keys(record).sort()).toEqual(
      ["ciphertext", "drill", "format", "job", "signature", "startedAt"].sort(),
    );
    expect(record).toMatchObject({ format: "backdrill-drill-record-v1", job: "files", drill: "d" });
    expect(record.signature).toMatchObject({ algorithm: "ed25519", publicKey: stack.publicKey });
    const ciphertext = Buffer.from(String(record.ciphertext), "base64");
    expect(ciphertext.subarray(0, 21).toString()).toBe("age-encryption.org/v1");
    // The local report names the snapshot and the checks; the record must not, in clear.
    const local = await stack.drillReport("d");
    const raw = await stack.readText(recordKey);
    expect(local.targets[0]?.snapshot).toBeTruthy();
    expect(raw).not.toContain(String(local.targets[0]?.snapshot));
    expect(raw).not.toContain("checks");
    // The other job was not drilled: no history of it.
    expect(await stack.keys(layout.drillHistoryPrefix("other"))).toEqual([]);
  });

  it("two config directories on one machine show the same history in status --json and the HTML page", async () => {
    const writer = await statusOf(stack.configDir);
    const second = await statusOf(reader);
    expect(writer.result.code, writer.result.stderr).toBe(0);
    expect(second.result.code, second.result.stderr).toBe(0);
    expect(second.json.drills).toEqual(writer.json.drills);
    expect(second.json.drills[0]?.last).toMatchObject({
      ok: true,
      targets: [{ job: "files", ok: true }],
    });
    // Read from the repository on both hosts (the writer's local file is the same run).
    expect(second.json.drills[0]?.last?.report).toBe(`${path.join(stack.root, "repo")}/${recordKey}`);
    expect(await readdir(readerReports).catch(() => [])).toEqual([]);

    const first = await pageOf(stack.configDir, "writer");
    const other = await pageOf(reader, "reader");
    expect(other.data).toEqual(first.data);
    // One run, not two, on the writer too (its local report and the record are the same run).
    const restore = (first.data as { charts: Array<{ id: string; columns: unknown[][] }> }).charts.find(
      (chart) => chart.id === "chart-0-restore",
    );
    expect(restore?.columns[0]).toHaveLength(1);
    const sections = (html: string) => html.slice(html.indexOf("<main>"), html.indexOf("</main>"));
    // The job sections hold the drill tiles, checks and charts: the same on both hosts but for
    // the snapshot's age, which moves between the two renderings.
    const stable = (html: string) => sections(html).replace(/\d+(\.\d+)? ?(s|min|h|d)\b/g, "N");
    expect(stable(other.html)).toEqual(stable(first.html));
    expect(sections(other.html)).toContain("passed");
  });

  it("a host without an age identity skips the records, and says so", async () => {
    const drillFile = path.join(reader, "drills", "d.yaml");
    const original = await readFile(drillFile, "utf8");
    await writeFile(
      drillFile,
      original.replace(
        /identityFile: .*\n/,
        `identityFile: ${path.join(stack.root, "no-such-identity.txt")}\n`,
      ),
    );
    try {
      const { json } = await statusOf(reader, { BACKDRILL_IDENTITY_FILE: undefined });
      expect(json.drills).toEqual([{ drill: "d", last: null }]);
      expect(json.warnings).toContainEqual(
        expect.stringMatching(
          /drill history of files: 1 record\(s\) in .* not read: this host holds no age identity/,
        ),
      );
    } finally {
      await writeFile(drillFile, original);
    }
  });

  it("forged records are refused and named; the genuine run stays the last one", async () => {
    const genuine = JSON.parse(await stack.readText(recordKey)) as Record<string, unknown>;
    const recipient = await identityToRecipient((await readIdentityFile(stack.identityFile))[0] ?? "");
    const later = "2031-01-01T00:00:00.000Z";
    const failedReport = {
      drill: "d",
      startedAt: later,
      finishedAt: later,
      ok: false,
      targets: [
        {
          job: "files",
          kind: "files",
          snapshot: null,
          ok: false,
          error: "forged failure",
          rtoSeconds: null,
          timings: { fetchMs: 0, setupMs: 0, restoreMs: 0, checksMs: 0, totalMs: 0 },
          checks: [],
        },
      ],
    };
    const forgedEnvelope = {
      format: "backdrill-drill-record-v1",
      job: "files",
      drill: "d",
      startedAt: later,
      ciphertext: (await encryptBuffer(JSON.stringify(failedReport), [recipient])).toString("base64"),
    };
    const key = (stamp: string) => layout.drillRecord("files", stamp, "d");
    const forged = {
      // Anyone can encrypt to the public recipient; only the signing key makes a record trusted.
      unsigned: key("20310101T000000Z"),
      // The genuine signature on a forged report.
      resigned: key("20310102T000000Z"),
      // A genuine record replayed under a newer name.
      replayed: key("20310103T000000Z"),
      garbage: key("20310104T000000Z"),
      huge: key("20310105T000000Z"),
      misnamed: "history/files/drills/latest.json",
    };
    await stack.put(forged.unsigned, JSON.stringify(forgedEnvelope));
    await stack.put(
      forged.resigned,
      JSON.stringify({
        ...forgedEnvelope,
        startedAt: "2031-01-02T00:00:00.000Z",
        signature: genuine.signature,
      }),
    );
    await stack.put(forged.replayed, JSON.stringify(genuine));
    await stack.put(forged.garbage, "{ not json");
    await stack.put(forged.huge, Buffer.alloc(2 * 1024 * 1024, 0x20));
    await stack.put(forged.misnamed, JSON.stringify(genuine));
    try {
      for (const configDir of [stack.configDir, reader]) {
        const { result, json } = await statusOf(configDir);
        expect(result.code, result.stderr).toBe(0);
        expect(json.drills[0]?.last).toMatchObject({ ok: true, report: expect.stringContaining(recordKey) });
        const warnings = json.warnings.join("\n");
        expect(warnings).toContain(
          `drill history ${forged.unsigned}: it is not signed, and signing is configured`,
        );
        expect(warnings).toMatch(new RegExp(`drill history ${forged.resigned}: .*signature`));
        expect(warnings).toContain(`drill history ${forged.replayed}: it describes drill d of files started`);
        expect(warnings).toContain(`drill history ${forged.garbage}: not valid JSON`);
        expect(warnings).toContain(`drill history ${forged.huge}: 2097152 bytes, larger than 1048576`);
        expect(warnings).toContain(`drill history ${forged.misnamed}: not a drill record name`);
        expect(warnings).not.toContain("forged failure");
      }
      const page = await pageOf(reader, "forged");
      expect(page.html).not.toContain("forged failure");
      expect(page.html).toContain(`drill history ${forged.unsigned}: it is not signed`);
    } finally {
      for (const forgedKey of Object.values(forged)) await stack.backend.delete(forgedKey);
    }
  });
});
