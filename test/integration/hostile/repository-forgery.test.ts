/**
 * The repository is hostile (issue 17): whoever can write to it (the bucket, the directory) can
 * put any object there without holding a single key, and every host that reads it must act only
 * on what it can trust. Each case forges or alters what such an attacker could and asserts that
 * nothing happened because of it: nothing pruned, no restore written, the forged snapshot never
 * "latest", every refusal one line naming the snapshot. Local disk and the S3 test server alike;
 * the drills that need a container run on the local repository only.
 *
 * Kind-level hostile values (facts, paths, names inside snapshots) are in the other files of this
 * directory.
 */
import { hostname } from "node:os";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { filesKind } from "../../../src/kinds/files/index.js";
import type { FilesJob } from "../../../src/kinds/files/job-schema.js";
import { createLogger } from "../../../src/log/logger.js";
import { layout } from "../../../src/repository/layout.js";
import { acquireJobLock, inspectLock, LockLostError } from "../../../src/repository/locks.js";
import { Repository } from "../../../src/repository/repository.js";
import { makeTrust } from "../../../src/repository/trust.js";
import { runJobBackup } from "../../../src/runner/backup.js";
import { selectDrillSnapshot } from "../../../src/runner/snapshot-check.js";
import { S3Container, type StartedS3Container } from "../../support/containers/s3.js";
import { forgeCopy, idAt, makeStack, type RepositoryPlace, type Stack } from "./repository-harness.js";

process.env.TESTCONTAINERS_RYUK_DISABLED = "true";

const YEAR_2030 = new Date("2030-06-01T02:00:00.000Z");
const minutes = (n: number): Date => new Date(Date.now() + n * 60_000);
const log = createLogger({ level: "silent" });

let s3: StartedS3Container;
let buckets = 0;

beforeAll(async () => {
  s3 = await new S3Container().start();
});

afterAll(async () => {
  await s3?.stop();
});

const places: Array<[string, () => RepositoryPlace]> = [
  ["local", () => ({ type: "local" })],
  ["s3", () => ({ type: "s3", server: s3, bucket: `hostile-${++buckets}` })],
];

async function withStack<T>(
  place: () => RepositoryPlace,
  options: { signing?: boolean; keepLast?: number },
  body: (stack: Stack) => Promise<T>,
): Promise<T> {
  const stack = await makeStack({ repository: place(), ...options });
  try {
    return await body(stack);
  } finally {
    await stack.close();
  }
}

/** `restore files --to <new dir>`; the result and what was written. */
async function restore(stack: Stack, ...args: string[]) {
  const to = stack.restoreTarget();
  const result = await stack.cli("restore", "files", "--to", to, ...args);
  return { result, written: await stack.restored(to) };
}

describe.each(places)("hostile repository (%s)", (placeName, place) => {
  it("the observed forgery: a re-dated copy of the newest snapshot is never latest, never counted by prune, and status calls it a problem", async () => {
    // No signing, as in the report: only structure and dates protect this repository.
    await withStack(place, { keepLast: 1 }, async (stack) => {
      const genuine = await stack.backup();
      const dirs = await stack.destinationDirs();
      const forged = await forgeCopy(stack, "files", genuine, YEAR_2030);
      expect(await stack.manifestIds()).toEqual([genuine, forged].sort());

      const verify = await stack.cli("verify");
      expect(verify.code).toBe(1);
      expect(verify.stdout).toContain(`snapshot files/${forged}: dated in the future`);

      const listing = await stack.cli("snapshots", "files", "--json");
      expect((JSON.parse(listing.stdout) as Array<{ id: string }>).map((entry) => entry.id)).toEqual([
        genuine,
      ]);
      expect(listing.stderr).toContain(`snapshot files/${forged}: dated in the future`);

      const restored = await restore(stack, "--dry-run");
      expect(restored.result.code, restored.result.stderr).toBe(0);
      expect(restored.result.stdout).toContain(`files snapshot ${genuine}`);
      expect(restored.result.stdout).toMatch(
        new RegExp(`warning: snapshot files/${forged}: dated in the future`),
      );

      const prune = await stack.cli("prune", "files");
      expect(prune.code, prune.stdout + prune.stderr).toBe(0);
      // The genuine newest survives, with its files; the forged manifest is not deleted on its word either.
      expect(await stack.manifestIds()).toEqual([genuine, forged].sort());
      expect(await stack.destinationDirs()).toEqual(dirs);
      expect(prune.stdout).toContain(`refused manifest: snapshot files/${forged}`);

      const status = await stack.cli("status");
      expect(status.code).toBe(1);
      expect(status.stdout).toMatch(/PROBLEM\s+files/);
      expect(status.stdout).toContain(`problem: snapshot files/${forged}: dated in the future`);
      expect(placeName).toBeDefined();
    });
  });

  it("with signing, a forged manifest dated now is refused: not latest, not restorable, not counted, named everywhere", async () => {
    await withStack(place, { signing: true, keepLast: 2 }, async (stack) => {
      const older = await stack.backup();
      const newer = await stack.backup();
      // Within the clock-skew allowance, so only the signature gives it away; the genuine
      // signature is carried over, and no longer matches the rewritten id and times.
      const forged = await forgeCopy(stack, "files", newer, minutes(1));
      const byId = await restore(stack, "--snapshot", forged);
      expect(byId.result.code).toBe(1);
      expect(byId.result.stderr).toMatch(
        new RegExp(
          `snapshot files/${forged}: manifest snapshots/files/${forged}\\.json: its signature does not match its content.*refusing to act on it`,
        ),
      );
      expect(byId.written).toEqual([]);

      const latest = await restore(stack, "--dry-run");
      expect(latest.result.code).toBe(0);
      expect(latest.result.stdout).toContain(`files snapshot ${newer}`);
      expect(latest.result.stdout).toContain(`warning: snapshot files/${forged}: manifest`);

      const prune = await stack.cli("prune", "files");
      expect(prune.code).toBe(0);
      // keepLast 2: counting the forgery would have removed the older genuine snapshot.
      expect(await stack.manifestIds()).toEqual([older, newer, forged].sort());
      expect(await stack.listed()).toEqual([older, newer]);

      const verify = await stack.cli("verify");
      expect(verify.code).toBe(1);
      expect(verify.stdout).toContain(`snapshot files/${forged}`);
      const status = await stack.cli("status");
      expect(status.code).toBe(1);
      expect(status.stdout).toContain(`problem: snapshot files/${forged}`);
    });
  });

  it("editing any field of a signed manifest makes restore and drill refuse it; nothing is written", async () => {
    await withStack(place, { signing: true }, async (stack) => {
      const id = await stack.backup();
      const key = layout.manifest("files", id);
      const pristine = await stack.readText(key);
      const edits: Array<
        [string, (m: Record<string, unknown> & { artifacts: Array<Record<string, unknown>> }) => void]
      > = [
        ["kind", (m) => (m.kind = "postgres-dump")],
        ["createdAt", (m) => (m.createdAt = String(m.createdAt).replace(/\.\d{3}Z$/, ".999Z"))],
        ["finishedAt", (m) => (m.finishedAt = new Date(Date.now() - 1000).toISOString())],
        ["host", (m) => (m.host = "attacker")],
        ["backdrillVersion", (m) => (m.backdrillVersion = "9.9.9")],
        ["meta", (m) => (m.meta = { ...(m.meta as object), injected: true })],
        ["an extra field", (m) => (m.comment = "harmless?")],
        ["artifact size", (m) => (m.artifacts[0]!.size = Number(m.artifacts[0]!.size) + 1)],
        ["artifact sha256", (m) => (m.artifacts[0]!.sha256 = "0".repeat(64))],
        ["artifact plainSize", (m) => (m.artifacts[0]!.plainSize = 1)],
        ["artifact removed", (m) => m.artifacts.pop()],
        [
          "signature key",
          (m) => ((m.signature as Record<string, unknown>).publicKey = `ed25519:${"A".repeat(43)}=`),
        ],
        [
          "signature value",
          (m) => ((m.signature as Record<string, unknown>).value = Buffer.alloc(64, 1).toString("base64")),
        ],
        ["signature removed", (m) => delete m.signature],
      ];
      await stack.pinnedDrill("pinned", id);
      for (const [field, edit] of edits) {
        const manifest = JSON.parse(pristine) as Parameters<(typeof edits)[number][1]>[0];
        edit(manifest);
        await stack.put(key, JSON.stringify(manifest, null, 2));
        const attempt = await restore(stack, "--snapshot", id);
        expect(attempt.result.code, `${field}: ${attempt.result.stdout}`).toBe(1);
        expect(attempt.result.stderr, field).toMatch(
          new RegExp(`snapshot files/${id}: .*refusing to act on it`),
        );
        expect(attempt.written, field).toEqual([]);
        const drill = await stack.cli("drill", "pinned");
        expect(drill.code, field).toBe(1);
        const report = await stack.drillReport("pinned");
        expect(report.targets[0], field).toMatchObject({ ok: false, snapshot: id });
        expect(report.targets[0]?.error, field).toMatch(/refusing to act on it/);
      }
      await stack.put(key, pristine);
      const intact = await restore(stack, "--snapshot", id, "--dry-run");
      expect(intact.result.code).toBe(0);
    });
  });

  it("a forged manifest pointing at another job's genuine ciphertext is refused, with and without signing", async () => {
    for (const signing of [false, true]) {
      await withStack(place, { signing }, async (stack) => {
        const genuine = await stack.backup("files");
        const victim = await stack.backup("other");
        // Everything consistent: sizes and hashes are those of the other job's real artifacts.
        const forged = await forgeCopy(stack, "other", victim, minutes(1), {
          targetJob: "files",
          pathsOf: { job: "other", id: victim },
        });
        const byId = await restore(stack, "--snapshot", forged);
        expect(byId.result.code).toBe(1);
        expect(byId.result.stderr).toMatch(
          signing
            ? /its signature does not match its content/
            : new RegExp(`artifact \\S+ points at "data/other/${victim}/.*another snapshot's data`),
        );
        expect(byId.written).toEqual([]);
        const latest = await restore(stack, "--dry-run");
        expect(latest.result.stdout).toContain(`files snapshot ${genuine}`);
      });
    }
  });

  it("a genuine signed manifest replayed under a newer id, or under another job, is refused", async () => {
    await withStack(place, { signing: true }, async (stack) => {
      const genuine = await stack.backup("files");
      const other = await stack.backup("other");
      const text = await stack.readText(layout.manifest("files", genuine));
      const replayedId = idAt(minutes(1));
      await stack.put(layout.manifest("files", replayedId), text);
      await stack.put(layout.manifest("other", genuine), text);
      const byId = await restore(stack, "--snapshot", replayedId);
      expect(byId.result.code).toBe(1);
      expect(byId.result.stderr).toContain(`describes files/${genuine}, not the snapshot its location names`);
      expect(byId.written).toEqual([]);
      expect((await restore(stack, "--dry-run")).result.stdout).toContain(`files snapshot ${genuine}`);
      const otherRestore = await stack.cli(
        "restore",
        "other",
        "--to",
        stack.restoreTarget(),
        "--snapshot",
        genuine,
      );
      expect(otherRestore.code).toBe(1);
      expect(otherRestore.stderr).toContain(`describes files/${genuine}`);
      expect(await stack.listed("other")).toEqual([other]);
    });
  });

  it("many forged future-dated manifests never make prune delete a genuine snapshot or its files", async () => {
    await withStack(place, { keepLast: 2 }, async (stack) => {
      const first = await stack.backup();
      const second = await stack.backup();
      const dirs = await stack.destinationDirs();
      const forged: string[] = [];
      for (let year = 2030; year < 2035; year++) {
        forged.push(await forgeCopy(stack, "files", second, new Date(`${year}-01-01T00:00:00.000Z`)));
      }
      const prune = await stack.cli("prune", "files");
      expect(prune.code).toBe(0);
      expect(await stack.manifestIds()).toEqual([first, second, ...forged].sort());
      expect(await stack.destinationDirs()).toEqual(dirs);
      // And with the retention the policy asks for applied to genuine snapshots only.
      const third = await stack.backup();
      await stack.cli("prune", "files");
      expect(await stack.listed()).toEqual([second, third]);
    });
  });

  it("an unreadable future-dated manifest does not block latest restore or drill", async () => {
    await withStack(place, {}, async (stack) => {
      const genuine = await stack.backup();
      const garbage = idAt(YEAR_2030);
      await stack.put(layout.manifest("files", garbage), "{ not a manifest");
      const latest = await restore(stack, "--dry-run");
      expect(latest.result.code, latest.result.stderr).toBe(0);
      expect(latest.result.stdout).toContain(`files snapshot ${genuine}`);
      expect(latest.result.stdout).toContain(`warning: snapshot files/${garbage}: manifest`);
    });
  });

  it("with signing, a fake manifest copy does not block latest; a genuine snapshot that lost its manifest still does", async () => {
    await withStack(place, { signing: true }, async (stack) => {
      const older = await stack.backup();
      const newer = await stack.backup();
      const fake = idAt(minutes(1));
      const copy = JSON.parse(await stack.readText(layout.manifest("files", newer))) as Record<
        string,
        unknown
      >;
      await stack.put(layout.manifestCopy("files", fake), JSON.stringify({ ...copy, id: fake }));
      const latest = await restore(stack, "--dry-run");
      expect(latest.result.code, latest.result.stderr).toBe(0);
      expect(latest.result.stdout).toContain(`files snapshot ${newer}`);
      expect(latest.result.stdout).toContain(
        `warning: snapshot files/${fake}: a manifest copy without manifest that is not trusted`,
      );
      // The genuine newest loses its manifest: its signed copy says it was real; no fallback.
      await stack.backend.delete(layout.manifest("files", newer));
      const blocked = await restore(stack);
      expect(blocked.result.code).toBe(1);
      expect(blocked.result.stderr).toContain(`snapshot files/${newer}: manifest`);
      expect(blocked.result.stderr).toMatch(/not restoring an older snapshot in its place/);
      expect(blocked.written).toEqual([]);
      expect(older).not.toBe(newer);
      // verify --repair puts the genuine one back, and never turns the fake copy into a manifest.
      const repair = await stack.cli("verify", "--repair");
      expect(repair.stdout + repair.stderr).toContain(fake);
      expect(await stack.manifestIds()).toEqual([older, newer].sort());
    });
  });

  it("unsigned snapshots after signing is turned on: refused, kept by prune; --allow-unsigned restores them, a bad signature never", async () => {
    await withStack(place, { keepLast: 1 }, async (stack) => {
      const legacy = await stack.backup();
      await stack.setSigning(true);
      const signed = await stack.backup();
      const refused = await restore(stack, "--snapshot", legacy);
      expect(refused.result.code).toBe(1);
      expect(refused.result.stderr).toMatch(
        new RegExp(`snapshot files/${legacy}: manifest .* is not signed, and signing is configured`),
      );
      expect(refused.written).toEqual([]);
      const allowed = await restore(stack, "--snapshot", legacy, "--allow-unsigned");
      expect(allowed.result.code, allowed.result.stderr).toBe(0);
      expect(allowed.result.stdout).toContain(`warning: snapshot files/${legacy} is not signed`);
      expect(allowed.written.sort()).toEqual(["a.txt", "sub"]);
      // Never acted on by retention (keepLast 1 would otherwise remove it), a warning in verify.
      expect((await stack.cli("prune", "files")).code).toBe(0);
      expect(await stack.manifestIds()).toEqual([legacy, signed].sort());
      const verify = await stack.cli("verify");
      expect(verify.code).toBe(0);
      expect(verify.stdout).toContain(`warning: 1 snapshot(s) of files are not signed (${legacy})`);
      // --allow-unsigned is no licence for a manifest whose signature does not match.
      const key = layout.manifest("files", signed);
      const manifest = JSON.parse(await stack.readText(key)) as Record<string, unknown>;
      await stack.put(key, JSON.stringify({ ...manifest, host: "attacker" }));
      const tampered = await restore(stack, "--snapshot", signed, "--allow-unsigned");
      expect(tampered.result.code).toBe(1);
      expect(tampered.result.stderr).toContain("its signature does not match its content");
      expect(tampered.written).toEqual([]);
    });
  });

  it("prune does not take over the lock of a run on another machine of the same host name, nor delete its artifacts", async () => {
    await withStack(place, { keepLast: 1 }, async (stack) => {
      await stack.backup();
      // A backup running elsewhere, on a machine whose host name is ours (a clone, a container
      // of the same image): its pid means nothing here. Its lock (both formats, as a host of
      // each version would write it) and its first artifact.
      const running = idAt(new Date());
      await stack.put(layout.artifact("files", running, "files.manifest"), "ciphertext in flight");
      const now = Date.now();
      const holder = {
        id: "elsewhere",
        job: "files",
        purpose: "backup",
        owner: "backdrill",
        host: hostname(),
        pid: 2 ** 22 + 17,
        start: new Date(now - 60_000).toISOString(),
        refreshed: new Date(now - 60_000).toISOString(),
        expiry: new Date(now + 1_800_000).toISOString(),
      };
      await stack.put(
        `locks/files/${"1".padStart(16, "0")}.json`,
        JSON.stringify({
          ...holder,
          format: 2,
          generation: 1,
          state: "held",
          machineId: "f".repeat(32),
          bootId: null,
        }),
      );
      await stack.put("locks/files.json", JSON.stringify({ ...holder, format: 1 }));
      const prune = await stack.cli("prune", "files");
      expect(prune.code).toBe(0);
      expect(prune.stdout + prune.stderr).toMatch(/held by another run/);
      expect(await stack.keys(layout.dataPrefix("files", running))).toHaveLength(1);
      expect(await inspectLock(new Repository(stack.backend), "files")).toMatchObject({
        state: "held",
        lock: { host: hostname(), start: holder.start },
      });
    });
  });

  it("a backup whose lock was taken over before its commit does not commit", async () => {
    await withStack(place, {}, async (stack) => {
      const repository = new Repository(stack.backend);
      const lock = await acquireJobLock(repository, "files");
      // Presumed dead (it stalled past its TTL, say) and taken over by another run.
      const next = lock.record.generation + 1;
      await stack.put(
        `locks/files/${String(next).padStart(16, "0")}.json`,
        JSON.stringify({
          ...lock.record,
          id: "taker",
          generation: next,
          host: "backup-2",
          machineId: "e".repeat(32),
        }),
      );
      const job = {
        name: "files",
        kind: "files",
        policy: "p",
        source: `${stack.root}/files-source`,
        destination: `${stack.root}/files-destination`,
        exclude: [],
      } as FilesJob;
      const { result } = await runJobBackup(
        {
          job,
          kind: filesKind,
          repository,
          recipients: await recipientsOf(stack),
          confirmCommit: () => lock.confirm(),
        },
        { log, signal: lock.signal, env: {}, configDir: stack.configDir },
      );
      expect(result.ok).toBe(false);
      expect(result.error).toMatch(/lock of job files was taken over by backup by .*@backup-2/);
      expect(await stack.manifestIds()).toEqual([]);
      expect(await stack.keys(layout.dataPrefix("files"))).toEqual([]);
      expect(lock.signal.reason).toBeInstanceOf(LockLostError);
      await lock.release();
    });
  });

  it("lock refresh racing a takeover: exactly one wins, the loser knows", async () => {
    await withStack(place, {}, async (stack) => {
      const repository = new Repository(stack.backend);
      for (let round = 0; round < 6; round++) {
        const job = `race-${round}`;
        let clock = Date.now();
        const holder = await acquireJobLock(repository, job, { ttlSeconds: 60, now: () => new Date(clock) });
        clock += 120_000;
        const [refresh, takeover] = await Promise.allSettled([
          holder.confirm(),
          acquireJobLock(repository, job, { ttlSeconds: 60, now: () => new Date(clock) }),
        ]);
        expect((refresh.status === "fulfilled") !== (takeover.status === "fulfilled")).toBe(true);
        if (takeover.status === "fulfilled") {
          expect(holder.signal.aborted).toBe(true);
          await takeover.value.release();
        }
        await holder.release();
        expect(await inspectLock(repository, job)).toEqual({ state: "free" });
      }
    });
  });
});

describe("a drill of a repository with a forged newest snapshot (local repository, sshd container)", () => {
  it("drills the genuine newest snapshot and names the forged one in its report", async () => {
    await withStack(places[0]![1], {}, async (stack) => {
      const genuine = await stack.backup();
      const forged = await forgeCopy(stack, "files", genuine, YEAR_2030);
      const drill = await stack.cli("drill", "d");
      expect(drill.code, drill.stdout + drill.stderr).toBe(0);
      const report = await stack.drillReport("d");
      expect(report.targets[0]).toMatchObject({ ok: true, snapshot: genuine });
      expect(report.targets[0]?.warnings?.join("\n")).toContain(
        `snapshot files/${forged}: dated in the future`,
      );
    });
  });
});

describe("every byte of a signed manifest", () => {
  it("altered anywhere, the snapshot is refused by id and never chosen as latest (local repository)", async () => {
    await withStack(places[0]![1], { signing: true }, async (stack) => {
      const older = await stack.backup();
      const newer = await stack.backup();
      const repository = new Repository(stack.backend, {
        trust: makeTrust({ publicKeys: new Set([stack.publicKey]) }),
      });
      const key = layout.manifest("files", newer);
      const pristine = Buffer.from(await stack.readText(key));
      let refusedById = 0;
      for (let position = 0; position < pristine.length; position++) {
        const bytes = Buffer.from(pristine);
        bytes[position] = (bytes[position] ?? 0) ^ 0x01;
        await stack.put(key, bytes);
        await expect(
          selectDrillSnapshot(repository, "files", newer, { verb: "restoring", kind: "files" }),
          `byte ${position}`,
        ).rejects.toThrow(new RegExp(`snapshot files/${newer}|manifest ${key}`));
        refusedById += 1;
        const latest = await selectDrillSnapshot(repository, "files", "latest", { kind: "files" });
        expect(latest.manifest.id, `byte ${position}`).toBe(older);
      }
      expect(refusedById).toBe(pristine.length);
      await stack.put(key, pristine);
      expect((await selectDrillSnapshot(repository, "files", "latest")).manifest.id).toBe(newer);
    });
  });
});

async function recipientsOf(stack: Stack): Promise<string[]> {
  const policy = await stack.cli("validate", "--json");
  return (JSON.parse(policy.stdout) as { policies: Array<{ encryption: { recipients: string[] } }> })
    .policies[0]!.encryption.recipients;
}
