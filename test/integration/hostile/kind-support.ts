/**
 * The hostile-repository suite, kind-level half: snapshots forged with the Repository API (facts
 * and artifacts encrypted to the policy's public recipient, which is all a forger needs) and the
 * witnesses that prove nothing happened when backdrill refused them:
 *
 *   - a decoy TCP listener counting connections (a database name read as a connection string, a
 *     `\connect` in a globals dump, an image pulled from a "registry", an ssh ProxyCommand);
 *   - canary paths a command would create (`\!`, `\o |cmd`);
 *   - directories outside every restore target that must stay as they were.
 *
 * Every case must fail on the code before issue 17 part 2 (checked when it was written) and
 * pass after it; see docs/security.md, "Hostile snapshots".
 */
import { createServer, type Server, type Socket } from "node:net";
import { chmod, mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { Readable } from "node:stream";
import YAML from "yaml";
import {
  FACTS_ARTIFACT,
  type ManifestMeta,
  type SnapshotManifest,
} from "../../../src/repository/manifest.js";
import { layout } from "../../../src/repository/layout.js";
import { Repository } from "../../../src/repository/repository.js";
import type { Compression } from "../../../src/streams/compression.js";
import { LocalBackend } from "../../../src/storage/local/local-backend.js";
import type { DrillReport, TargetReport } from "../../../src/report/types.js";
import { makeFaultConfig, type FaultConfig } from "../../faults/support/fault-config.js";
import { runCli, type CliResult } from "../../support/run-cli.js";

process.env.TESTCONTAINERS_RYUK_DISABLED = "true";

export const SLOW = 600_000;

/** A TCP listener that only counts who connects (and closes them). */
export interface Decoy {
  host: string;
  port: number;
  connections(): number;
  close(): Promise<void>;
}

export async function startDecoy(host = "127.0.0.1"): Promise<Decoy> {
  let count = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    count += 1;
    sockets.add(socket);
    socket.on("error", () => undefined);
    socket.on("close", () => sockets.delete(socket));
    socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, host, () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("decoy has no port");
  return {
    host,
    port: address.port,
    connections: () => count,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/**
 * What a forged snapshot holds: artifacts by name, the facts, the manifest meta. Facts may be a
 * function of the snapshot's id (known before the commit), as a backup's facts are.
 */
export interface Forgery {
  artifacts?: Record<string, Buffer | string>;
  /** How the artifacts are compressed (default none). */
  compression?: Compression;
  facts: unknown;
  meta?: ManifestMeta;
  /** Edits the committed manifest (and its copy), as someone with write access could. */
  edit?: (manifest: SnapshotManifest) => void;
}

export type FactsOf = (id: string) => unknown;

export interface HostileWorld {
  config: FaultConfig;
  identityFile: string;
  reportDir: string;
  /** A private directory of the test, outside every restore target. */
  outside: string;
  cli(args: string[], env?: Record<string, string>): Promise<CliResult>;
  writeJob(job: Record<string, unknown> & { name: string; kind: string }): Promise<void>;
  /** Forges a snapshot of `job` (encrypted to the policy's recipient) and returns its manifest. */
  forge(job: string, kind: string, forgery: Forgery): Promise<SnapshotManifest>;
  /** `backdrill restore <job> --to <to> --snapshot <id> --identity …` */
  restore(
    job: string,
    snapshot: string,
    to: string,
    extra?: string[],
    env?: Record<string, string>,
  ): Promise<CliResult>;
  /** Writes drills/<name>.yaml with one target and runs it; returns the target's report. */
  drill(
    name: string,
    target: Record<string, unknown>,
    env?: Record<string, string>,
  ): Promise<{ result: CliResult; target: TargetReport }>;
  remove(): Promise<void>;
}

export async function hostileWorld(prefix: string): Promise<HostileWorld> {
  const config = await makeFaultConfig(prefix);
  const identityFile = path.join(config.root, "identity.txt");
  await writeFile(identityFile, `${config.identity}\n`, { mode: 0o600 });
  await chmod(identityFile, 0o600);
  const reportDir = path.join(config.root, "reports");
  const outside = path.join(config.root, "outside");
  await mkdir(outside, { recursive: true, mode: 0o700 });
  const cli = (args: string[], env: Record<string, string> = {}) =>
    runCli([...args, "--config-dir", config.configDir], env);
  const repository = () => new Repository(new LocalBackend({ path: config.repositoryDir }));
  return {
    config,
    identityFile,
    reportDir,
    outside,
    cli,
    writeJob: (job) => config.writeJob(job),
    async forge(job, kind, forgery) {
      const repo = repository();
      try {
        await repo.init();
        const writer = repo.createSnapshot({ job, kind, recipients: [config.recipient] });
        for (const [name, content] of Object.entries(forgery.artifacts ?? {})) {
          await writer.addArtifact(name, Readable.from([Buffer.from(content)]), {
            compression: forgery.compression ?? "none",
          });
        }
        const facts: unknown =
          typeof forgery.facts === "function" ? (forgery.facts as FactsOf)(writer.id) : forgery.facts;
        await writer.addJson(FACTS_ARTIFACT, facts);
        const manifest = await writer.commit(forgery.meta ?? {});
        if (forgery.edit !== undefined) {
          forgery.edit(manifest);
          const body = `${JSON.stringify(manifest, null, 2)}\n`;
          for (const key of [layout.manifest(job, manifest.id), layout.manifestCopy(job, manifest.id)])
            await repo.backend.put(key, Readable.from([Buffer.from(body)]), { overwrite: true });
        }
        // Snapshot ids have second resolution: the next forgery must sort after this one.
        await new Promise((resolve) => setTimeout(resolve, 1100));
        return manifest;
      } finally {
        await repo.backend.close();
      }
    },
    restore: (job, snapshot, to, extra = [], env = {}) =>
      cli(["restore", job, "--to", to, "--snapshot", snapshot, "--identity", identityFile, ...extra], env),
    async drill(name, target, env = {}) {
      const drillsDir = path.join(config.configDir, "drills");
      await mkdir(drillsDir, { recursive: true, mode: 0o700 });
      const drill = { name, identityFile, reportDir, targets: [target] };
      await writeFile(path.join(drillsDir, `${name}.yaml`), YAML.stringify(drill), { mode: 0o600 });
      const before = new Set(await readdir(reportDir).catch(() => [] as string[]));
      const result = await cli(["drill", name], env);
      const written = (await readdir(reportDir))
        .filter((file) => file.endsWith(".json") && !before.has(file) && file.startsWith(`${name}-`))
        .sort();
      const newest = written.at(-1);
      if (newest === undefined)
        throw new Error(`drill ${name} wrote no report:\n${result.stdout}\n${result.stderr}`);
      const report = JSON.parse(await readFile(path.join(reportDir, newest), "utf8")) as DrillReport;
      const only = report.targets[0];
      if (only === undefined) throw new Error(`drill ${name}: no target in the report`);
      // One drill file per case: removed so `drill --all` elsewhere never runs it again.
      await rm(path.join(drillsDir, `${name}.yaml`), { force: true });
      return { result, target: only };
    },
    remove: () => config.remove(),
  };
}

/** Every file under `dir`, relative, with its content: a directory that must not change. */
export async function treeState(dir: string): Promise<string> {
  const out: string[] = [];
  const walk = async (sub: string): Promise<void> => {
    for (const entry of (await readdir(path.join(dir, sub), { withFileTypes: true })).sort((a, b) =>
      a.name < b.name ? -1 : 1,
    )) {
      const rel = path.join(sub, entry.name);
      if (entry.isDirectory()) {
        out.push(`${rel}/`);
        await walk(rel);
      } else if (entry.isSymbolicLink()) out.push(`${rel} -> link`);
      else out.push(`${rel}: ${(await readFile(path.join(dir, rel))).toString("base64")}`);
    }
  };
  await walk("");
  return out.join("\n");
}

export async function exists(file: string): Promise<boolean> {
  try {
    await readFile(file);
    return true;
  } catch {
    return false;
  }
}

/** Names in a directory (empty when it does not exist). */
export async function entries(dir: string): Promise<string[]> {
  return readdir(dir).catch(() => []);
}
