import { describe, expect, it } from "vitest";
import { generateSigningKey, parseSigningKey } from "../crypto/signing.js";
import { layout } from "./layout.js";
import { assessManifest, renderManifest } from "./manifest-trust.js";
import { FACTS_ARTIFACT, MANIFEST_FORMAT, type SnapshotManifest } from "./manifest.js";
import { makeTrust } from "./trust.js";

const key = parseSigningKey(generateSigningKey().privateKeyPem, "test");
const now = new Date("2026-11-28T03:00:00.000Z");
const signed = makeTrust({ publicKeys: new Set([key.publicKey]), now: () => now });
const unsignedTrust = makeTrust({ now: () => now });

function manifest(overrides: Partial<SnapshotManifest> = {}): SnapshotManifest {
  const id = overrides.id ?? "20261128T021500Z-3f9a1c";
  const job = overrides.job ?? "db";
  return {
    format: MANIFEST_FORMAT,
    id,
    job,
    kind: "postgres-dump",
    createdAt: "2026-11-28T02:15:00.123Z",
    finishedAt: "2026-11-28T02:16:00.000Z",
    host: "backup1",
    backdrillVersion: "0.1.0",
    meta: { serverVersion: "17.2" },
    artifacts: [
      { name: "task.dump", path: layout.artifact(job, id, "task.dump"), size: 10, sha256: "a".repeat(64) },
      {
        name: FACTS_ARTIFACT,
        path: layout.artifact(job, id, FACTS_ARTIFACT),
        size: 5,
        sha256: "b".repeat(64),
      },
    ],
    ...overrides,
  };
}

const where = { job: "db", id: "20261128T021500Z-3f9a1c" };
const key1 = layout.manifest(where.job, where.id);

describe("assessManifest", () => {
  it("trusts a signed manifest, and one without signing configured", () => {
    expect(assessManifest(renderManifest(manifest(), key), key1, where, signed)).toMatchObject({
      status: "trusted",
      signedBy: key.publicKey,
      future: false,
    });
    expect(assessManifest(renderManifest(manifest(), undefined), key1, where, unsignedTrust)).toMatchObject({
      status: "trusted",
      signedBy: null,
    });
  });

  it("refuses an unsigned manifest under signing unless allowed; never a bad signature", () => {
    const plain = renderManifest(manifest(), undefined);
    expect(assessManifest(plain, key1, where, signed)).toMatchObject({
      status: "refused",
      reason: "unsigned",
      problem: expect.stringMatching(/^snapshot db\/20261128T021500Z-3f9a1c: manifest .* is not signed/),
    });
    const allow = makeTrust({ publicKeys: new Set([key.publicKey]), allowUnsigned: true, now: () => now });
    expect(assessManifest(plain, key1, where, allow)).toMatchObject({ status: "trusted", unsigned: true });
    const altered = JSON.parse(renderManifest(manifest(), key)) as Record<string, unknown>;
    altered.host = "elsewhere";
    expect(assessManifest(JSON.stringify(altered), key1, where, allow)).toMatchObject({
      status: "refused",
      reason: "signature",
    });
    // An extra field is content as well: a reader of a newer version might act on it.
    const extra = JSON.parse(renderManifest(manifest(), key)) as Record<string, unknown>;
    extra.note = "x";
    expect(assessManifest(JSON.stringify(extra), key1, where, signed)).toMatchObject({ reason: "signature" });
  });

  it.each([
    [
      "another job's id in the key",
      { job: "db", id: "20261128T021500Z-000000" },
      {},
      /describes db\/20261128T021500Z-3f9a1c/,
    ],
    ["another job", { job: "files", id: where.id }, {}, /describes db\//],
    ["an id that is not a snapshot id", { job: "db", id: "latest" }, { id: "latest" }, /not a snapshot id/],
    [
      "a createdAt that is not the id's time",
      where,
      { createdAt: "2026-11-28T02:15:01.000Z" },
      /not the time its id/,
    ],
    ["finished before created", where, { finishedAt: "2026-11-28T02:14:00.000Z" }, /finishedAt lies before/],
    ["a time in another spelling", where, { finishedAt: "Nov 28 2026" }, /finishedAt is not a time/],
  ])("refuses %s (even without signing)", (_what, location, overrides, problem) => {
    const text = renderManifest(manifest(overrides as Partial<SnapshotManifest>), key);
    for (const trust of [signed, unsignedTrust]) {
      expect(assessManifest(text, layout.manifest(location.job, location.id), location, trust)).toMatchObject(
        {
          status: "refused",
          reason: "structure",
          problem: expect.stringMatching(problem),
        },
      );
    }
  });

  it("refuses artifacts that point at another snapshot's data, or are listed twice", () => {
    const other = manifest();
    other.artifacts[0] = {
      ...other.artifacts[0]!,
      path: layout.artifact("files", "20261127T021500Z-aaaaaa", "task.dump"),
    };
    expect(assessManifest(renderManifest(other, key), key1, where, signed)).toMatchObject({
      reason: "structure",
      problem: expect.stringMatching(/artifact task\.dump points at "data\/files\/.*another snapshot's data/),
    });
    const twice = manifest();
    twice.artifacts.push(twice.artifacts[0]!);
    expect(assessManifest(renderManifest(twice, undefined), key1, where, unsignedTrust)).toMatchObject({
      reason: "structure",
      problem: expect.stringMatching(/listed twice/),
    });
  });

  it("marks a manifest dated beyond the clock-skew allowance as future, within it not", () => {
    const id = "20261128T030400Z-3f9a1c"; // 4 minutes ahead: within 5 minutes of skew
    const near = manifest({
      id,
      createdAt: "2026-11-28T03:04:00.000Z",
      finishedAt: "2026-11-28T03:04:30.000Z",
    });
    const at = { job: "db", id };
    expect(assessManifest(renderManifest(near, key), layout.manifest("db", id), at, signed)).toMatchObject({
      status: "trusted",
      future: false,
    });
    const farId = "20301128T030000Z-3f9a1c";
    const far = manifest({
      id: farId,
      createdAt: "2030-11-28T03:00:00.000Z",
      finishedAt: "2030-11-28T03:01:00.000Z",
    });
    expect(
      assessManifest(
        renderManifest(far, undefined),
        layout.manifest("db", farId),
        { job: "db", id: farId },
        unsignedTrust,
      ),
    ).toMatchObject({ status: "trusted", future: true });
  });

  it("calls unparseable text damaged", () => {
    expect(assessManifest("{", key1, where, signed)).toEqual({
      status: "damaged",
      problem: `manifest ${key1} is not valid JSON`,
    });
    expect(assessManifest("{}", key1, where, signed)).toMatchObject({ status: "damaged" });
  });
});
