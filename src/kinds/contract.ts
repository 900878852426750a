/**
 * The job-kind contract: everything backdrill knows about one kind of job (PostgreSQL dumps, file
 * trees, a RabbitMQ broker, ...) lives in one folder under src/kinds/ and is exported from its
 * index.ts as one `Kind` object. The rest of backdrill (config loader, validate, doctor, prune,
 * the backup and drill runners, the restore command) reaches a kind only through this contract
 * and the registry (registry.ts), never by its name.
 *
 * Every part is required: a kind that leaves one out does not compile. Where a part does not
 * apply, the kind says so explicitly (`retention: null`, `validate: () => []`), so a forgotten
 * part can never silently mean "no secret checks" or "no doctor checks".
 *
 * Heavy code (drivers, containers, SDKs) is loaded by `engine()` on first use, so `validate` and
 * a cron line that only prints help do not pay for it. See docs/architecture.md, "The kind
 * contract", for the rules each part follows and the files a new kind adds.
 *
 * This module imports no kind.
 */
import type { Readable } from "node:stream";
import type * as z from "zod";
import type { PullPolicy } from "../docker/container.js";
import type { Logger } from "../log/logger.js";
import type { Scope } from "../lifecycle/scope.js";
import type { Compression } from "../streams/compression.js";
import type { CheckSpec } from "../preflight/runner.js";
import type { ArtifactRecord, ManifestMeta, SnapshotManifest } from "../repository/manifest.js";
import type { Repository } from "../repository/repository.js";
import type { Policy } from "../schema/policy.js";
import type { FieldLocation, SecretRef } from "../secrets/resolve.js";

// ---- config --------------------------------------------------------------------------------

/** What every job has, whatever its kind (see schema/job-base.ts). */
export interface JobBase {
  name: string;
  kind: string;
  policy: string;
  description?: string | undefined;
}

/** What an engine needs of any job: tests drive engines with such partial objects. */
export interface JobLike {
  name: string;
  kind: string;
}

/** A loaded job with the config file it came from (`jobs/task-db.yaml`), used in messages. */
export interface JobSource<J extends JobBase = JobBase> {
  file: string;
  job: J;
}

/** A problem found in one field; the caller adds the file (and, for targets, `targets.N.`). */
export interface FieldIssue {
  path: string;
  message: string;
}

/** How a drill pulls images: the drill's `pull:` setting (config/drill-schema.ts). */
export type { PullPolicy };

/** The drill target fields every kind shares. */
export interface TargetBase {
  job: string;
  snapshot: string;
  image?: string | undefined;
  rto?: string | undefined;
  /**
   * The drill's `pull:` setting, copied onto each target by the drill use case; absent means
   * `never`. Applies to the target's image and to the job's `tools.image`.
   */
  pull?: PullPolicy | undefined;
}

/** A drill target field only some kinds take, with the reason shown when another kind has it. */
export interface TargetField<S extends z.ZodType = z.ZodType> {
  schema: S;
  /** e.g. "point-in-time recovery replays a WAL archive". */
  why: string;
  /** The field names a key file the drill host must be able to read (`validate --strict`, doctor). */
  readableFile?: boolean;
}

type Optional<S extends Record<string, z.ZodType>> = { [K in keyof S]?: z.output<S[K]> | undefined };

/** A kind's drill target: the shared fields, its own fields and its own checks. */
export type TargetOf<
  Fields extends Record<string, TargetField>,
  Checks extends Record<string, z.ZodType>,
> = TargetBase &
  Optional<{ [K in keyof Fields]: Fields[K]["schema"] }> & { checks?: Optional<Checks> | undefined };

export interface TargetSpec<J extends JobBase, T extends TargetBase> {
  /** Target fields only this kind takes (the loader refuses them on targets of other kinds). */
  fields: Record<string, TargetField>;
  /** This kind's `checks:` keys. Kinds may share a key only with the same schema object. */
  checks: Record<string, z.ZodType>;
  /**
   * The container image a target restores into: `example` is shown when a target names none.
   * `none`: the kind restores in-process (why, for the message) and a target must not name one.
   */
  image: { example: string } | { none: string };
  /** Rules for a target of this kind that need its job (required fields, names the job knows). */
  validate(target: T, job: J): FieldIssue[];
}

// ---- secrets -------------------------------------------------------------------------------

/** A secret the job reads when it runs; `validate --strict` and `doctor` check it is there. */
export interface SecretRequirement {
  where: FieldLocation;
  ref: SecretRef;
  /** Only check the file is readable (keys handed to ssh or age), without reading it here. */
  readableOnly?: boolean;
}

/** A list of age recipients the job encrypts to besides the policy's (escrow recipients). */
export interface RecipientListRef {
  inline: readonly string[];
  file: string | undefined;
  /** Field paths for messages, e.g. `escrowRecipients` and `escrowRecipientsFile`. */
  listPath: string;
  filePath: string;
}

export interface SecretSpec {
  secrets: SecretRequirement[];
  recipients: RecipientListRef[];
}

// ---- doctor --------------------------------------------------------------------------------

/** What a kind's doctor checks get: bounded, shared facts; nothing here changes anything. */
export interface KindDoctorContext {
  env: NodeJS.ProcessEnv;
  timeoutMs: number;
  signal: AbortSignal | undefined;
  /** Owns tool containers started by version probes. */
  scope: Scope;
  /** The config directory, for relative paths in the job (tools.binDir). */
  configDir: string;
  /**
   * `doctor --switch-wal`: the operator allows the one check that writes (postgres-base forces
   * pg_switch_wal() and waits for the segment in the repository). Otherwise checks only read.
   */
  switchWal: boolean;
  /** The job's policy, and its repository (opened once, shared between checks). */
  policy: Policy;
  repository(): Promise<Repository>;
  /** The Docker engine's version; rejects when the CLI or the engine does not answer. */
  dockerVersion(): Promise<string>;
  /** Whether an image is present in the engine (never pulls). */
  imagePresent(image: string): Promise<boolean>;
}

// ---- restore options -----------------------------------------------------------------------

/** A command-line flag of `backdrill restore` that only this kind takes. */
export interface RestoreFlag {
  /** Without dashes, kebab-case: `escrow-identity`. */
  name: string;
  type: "string" | "boolean";
  describe: string;
}

export type RestoreFlagValues = Readonly<Record<string, string | boolean | undefined>>;

export interface RestoreSpec<J extends JobBase, O> {
  /** What `--to` is for this kind, for --help and messages: `postgres://user@host:5432[/db]`. */
  to: string;
  flags: readonly RestoreFlag[];
  /**
   * The typed options from --to and this kind's flags (and their environment defaults). Pure:
   * nothing is read or connected; a bad value is a UsageError naming the flag.
   */
  options(input: { to: string; flags: RestoreFlagValues; env: NodeJS.ProcessEnv; job: J }): O;
}

// ---- side artifacts ------------------------------------------------------------------------

/** Retention of what a kind keeps beside its snapshots (the WAL archive, snapshot directories). */
export interface SideRetention<J extends JobBase> {
  /** The key of this part in `prune --json` (`wal`, `directories`). */
  key: string;
  /**
   * Snapshots retention must keep because a kept one needs them (postgres-base: the full backup
   * and intermediates of a kept incremental backup's chain), each with the reason prune shows.
   * Pure; `all` is the job's trusted listing, oldest first.
   */
  keepAlso?(
    kept: readonly SnapshotManifest[],
    all: readonly SnapshotManifest[],
  ): Array<{ id: string; reason: string }>;
  prune(context: {
    job: J;
    repository: Repository;
    /** The snapshots retention keeps, oldest first. */
    kept: readonly SnapshotManifest[];
    dryRun: boolean;
    log: Logger;
    signal: AbortSignal;
  }): Promise<SideRetentionResult>;
}

export interface SideRetentionResult {
  /** For `prune --json`, under `key`. */
  report: unknown;
  /** Lines for the human output of prune. */
  summary: string[];
}

// ---- continuous archive ----------------------------------------------------------------------

/**
 * A feed a kind keeps beside its snapshots that the job's RPO also depends on (PostgreSQL's WAL
 * archive: with point-in-time recovery, what can be lost is what has not been archived yet, not
 * what happened since the last base backup). `status` and the metrics watch its freshness,
 * `verify` checks it is complete.
 */
export interface ContinuousArchive<J extends JobBase> {
  /** What status and verify call it: "WAL archive". */
  label: string;
  /** The newest archived item, and the local spool's backlog where the job names one. */
  freshness(context: { job: J; repository: Repository }): Promise<ArchiveFreshness>;
  /**
   * The long-running process that feeds the archive on the backup host, if the job needs one
   * (`wal ship <job> <spool>` for a job with a spool): `backdrill cron` writes a unit for it.
   * `args` follow `backdrill --config-dir DIR`.
   */
  feeder(job: J): { args: string[]; what: string } | null;
  /**
   * What the archive's producer says about feeding it (postgres-base: the server's
   * pg_stat_archiver), for `status`; null when the kind has no producer to ask. Bounded in time
   * (a silent server must not hang status) and never throws: an unreachable producer is
   * `ok: null` with the reason.
   */
  source(context: { job: J; env: NodeJS.ProcessEnv; configDir: string }): Promise<ArchiveSource | null>;
  /** Is the archive complete from the oldest retained snapshot on to its newest item? */
  verify(context: {
    job: J;
    repository: Repository;
    /** The job's committed snapshots, oldest first. */
    snapshots: readonly SnapshotManifest[];
    /** With identities (`verify --read-data`): decrypt every item and compare it with its record. */
    identities?: readonly string[] | undefined;
    signal: AbortSignal;
  }): Promise<ArchiveVerification>;
}

export interface ArchiveFreshness {
  /** The newest archived item (by name order) and when the repository stored it; null: none. */
  newest: { name: string; storedAt: Date } | null;
  /** The job's own bound on the newest item's age (postgres-base `archiveRpo`); else the policy's `rpo`. */
  rpoSeconds?: number | undefined;
  /** Files waiting in the job's spool directory; null when the job has none or it is not here. */
  backlog: { dir: string; files: number; bytes: number; oldest: Date | null } | null;
}

export interface ArchiveSource {
  /** false: the producer reports archiving failing now (the job is not ok); null: could not ask. */
  ok: boolean | null;
  /** One line for status: the failure, the last success, or why the producer was not asked. */
  detail: string;
  /** The producer's own figures (pg_stat_archiver's), as it reported them; null when not asked. */
  stats: Readonly<Record<string, string | number | null>> | null;
}

export interface ArchiveVerification {
  /** Items checked. */
  checked: number;
  /** Damage, one line each: missing ranges, records that do not match, items that do not decrypt. */
  problems: string[];
  /** One line: what was checked. */
  summary: string;
}

// ---- engine --------------------------------------------------------------------------------

export interface ArtifactWriter {
  /** The snapshot id the artifacts belong to (sortable by time); e.g. to name a files snapshot dir. */
  readonly id: string;
  /**
   * Streams plaintext into the snapshot (compressed first with `compression`, default none);
   * resolves once durably stored (encrypted). Readers get it decompressed.
   */
  addArtifact(
    name: string,
    plaintext: Readable,
    options?: { signal?: AbortSignal; compression?: Compression },
  ): Promise<ArtifactRecord>;
}

export interface ArtifactReader {
  readonly snapshot: SnapshotManifest;
  /** Names of the data artifacts (the facts artifact excluded). */
  names(): string[];
  /** Plaintext of one artifact; the stream errors if the ciphertext is damaged or does not decrypt. */
  open(name: string, options?: { signal?: AbortSignal }): Promise<Readable>;
}

export interface OperationContext {
  log: Logger;
  /** Aborted on Ctrl-C / SIGTERM or when the run is cancelled; engines pass it to every await. */
  signal: AbortSignal;
  /** Owner of containers, temp dirs and processes the engine creates; released by the runner. */
  scope: Scope;
  /** Environment for resolving `*Env` secrets. */
  env: NodeJS.ProcessEnv;
  /** The config directory, for resolving relative paths. */
  configDir: string;
  /** The job's config file relative to the config dir, for messages about its fields. */
  jobFile: string;
}

export interface BackupContext<J extends JobLike> extends OperationContext {
  job: J;
  snapshot: ArtifactWriter;
  /**
   * The job's committed snapshots, oldest first: the repository's trusted listing only (refused
   * manifests are never here). A kind that builds on an earlier snapshot (postgres-base
   * incremental backups) picks its parent from it. Absent when a test drives an engine alone.
   */
  history?: () => Promise<readonly SnapshotManifest[]>;
}

export interface BackupOutcome<F> {
  /** Describes the data (row counts, names): validated against the facts schema, stored encrypted. */
  facts: F;
  /** Non-secret, non-descriptive metadata for the plaintext manifest (versions, LSNs, sizes). */
  meta: ManifestMeta;
}

export interface CheckResult {
  name: string;
  ok: boolean;
  detail: string;
}

/** What drill and restore read: the snapshot, its facts (already validated), the repository. */
export interface SnapshotContext<J extends JobLike, F> extends OperationContext {
  job: J;
  artifacts: ArtifactReader;
  facts: F;
  /** Read access to what the kind keeps beside snapshots (the WAL archive). Never written here. */
  repository: Repository;
  /** The identities that opened the snapshot; they open the side artifacts too. */
  identities: readonly string[];
}

export interface DrillContext<J extends JobLike, T extends TargetBase, F> extends SnapshotContext<J, F> {
  target: T;
  /**
   * Set in a stack drill (docs/architecture.md, "Stack drills"): the kind starts its sandbox in
   * this network under this alias (`startDrillContainer({ network })`), and nowhere else.
   */
  stack?: StackPlacement | undefined;
}

/** Where a stack drill puts one target's sandbox. */
export interface StackPlacement {
  /** The stack's Docker network: internal, no address of the host on it, nothing else attached. */
  network: string;
  /** The service's name in that network (`postgres`), from the drill file. */
  alias: string;
  /** Labels for what the kind creates for the stack besides containers (volumes), for the sweep. */
  labels: Readonly<Record<string, string>>;
}

/**
 * What a stack's smoke test gets of one service (README, "Smoke test contract"). The stack adds
 * `<SERVICE>_KIND`, `_JOB`, `_HOST` and `_PORT` itself; `env` holds the rest, without the prefix.
 */
export interface StackService {
  /** The port the service answers on at its alias; null when the kind runs no container. */
  port: number | null;
  /** E.g. USER, PASSWORD, BUCKET. Values may be secrets of the throwaway sandbox (registered). */
  env: Record<string, string>;
  /**
   * Restored secret files (a vault and its key): written into a tmpfs of the smoke test's container
   * only, never to the drill host's disk; the kind wipes the buffers when its scope closes.
   */
  files: Array<{ name: string; data: Buffer }>;
  /** A Docker volume with restored data (a file tree), mounted read-only into the smoke test. */
  volume: string | null;
}

/**
 * A drill in three phases the runner calls in order and times (docs/architecture.md, "Drill
 * timings"): `sandbox` starts the throwaway containers and waits until they are ready;
 * `restore` loads the snapshot into them (artifacts fetched, decrypted, loaded: their streaming
 * is restore time) and returns the checks that judge the restore itself; `checks` compares the
 * result with the facts. A phase throws only when the drill cannot go on; a restore that ran and
 * failed is a failed check, so the comparison still shows what it cost.
 */
export interface DrillPhases {
  sandbox(): Promise<void>;
  restore(): Promise<CheckResult[]>;
  checks(): Promise<CheckResult[]>;
  /** Kind-specific numbers for the report (bytes, tables, segments replayed); called last. */
  details(): Record<string, unknown>;
  /**
   * In a stack drill, after `checks`: what the smoke test needs of the restored service. Every
   * kind answers; a kind that cannot take part in a stack throws a UsageError saying why, so a
   * stack never silently runs without one of its services.
   */
  stack(): StackService;
}

export interface RestoreContext<J extends JobLike, F, O> extends SnapshotContext<J, F> {
  /** Where to restore, as given (a DSN, a path, a URL). */
  to: string;
  /** Restore over a non-empty target. */
  force: boolean;
  options: O;
  /** The identity file that opened the snapshot, for what the restore writes (a restore_command). */
  identityFile: string;
}

/**
 * What a restore will do: `steps` and `warnings` are printed by --dry-run and logged before a
 * real restore; `data` is what apply executes, so apply never works the plan out again. `data`
 * may hold secrets (a target password) and is never printed.
 */
export interface RestorePlan<P> {
  steps: string[];
  warnings: string[];
  data: P;
}

export interface KindEngine<J extends JobLike, T extends TargetBase, F, O, P> {
  /** Produces artifacts and facts. Must not commit anything itself: the runner commits. */
  backup(context: BackupContext<J>): Promise<BackupOutcome<F>>;
  /** The drill's phases, which restore into throwaway containers owned by context.scope. */
  drill(context: DrillContext<J, T, F>): DrillPhases;
  /** What a restore would do; reads, never writes. Used for --dry-run and by apply. */
  planRestore(context: RestoreContext<J, F, O>): Promise<RestorePlan<P>>;
  /** Executes the plan, then checks the target against the facts; throws on failure. */
  applyRestore(context: RestoreContext<J, F, O>, plan: RestorePlan<P>): Promise<void>;
}

// ---- the kind ------------------------------------------------------------------------------

/**
 * A job file schema: a zod object with `kind: z.literal(...)` (the union tells kinds apart by
 * it), possibly piped through a transform that fills in defaults.
 */
export type JobSchema = z.ZodType & z.core.$ZodTypeDiscriminable;

export interface Kind<
  S extends JobSchema,
  T extends TargetBase,
  F,
  O,
  P,
  J extends JobBase = z.output<S> & JobBase,
> {
  readonly kind: J["kind"];
  /** One line: what a job of this kind backs up. */
  readonly summary: string;
  readonly jobSchema: S;
  readonly target: TargetSpec<J, T>;
  /** Every reader of facts goes through it: facts come from the repository and are untrusted. */
  readonly factsSchema: z.ZodType<F>;
  readonly restore: RestoreSpec<J, O>;
  /** One line for `validate`: where the job reads from. Never a secret. */
  describe(job: J): string;
  secrets(source: JobSource<J>): SecretSpec;
  /** Rules between the job and its policy (a destination inside the repository, ...). */
  checkPolicy(job: J, policy: Policy): FieldIssue[];
  /** Whether backing the job up needs the Docker engine (client tools in a container). */
  usesDocker(job: J): boolean;
  /**
   * Preflight checks of the job's source: reachable, credentials work, tools present. Async so
   * the checks' drivers load only when doctor runs.
   */
  doctor(context: KindDoctorContext, source: JobSource<J>): Promise<CheckSpec[]>;
  /** Drill-host checks of a target beyond its image (an escrow identity that opens the escrow). */
  drillDoctor(context: KindDoctorContext, target: T, source: JobSource<J>): Promise<CheckSpec[]>;
  readonly retention: SideRetention<J> | null;
  /** A continuous feed the RPO depends on (the WAL archive), watched by status and verify, or `null`. */
  readonly archive: ContinuousArchive<J> | null;
  engine(): Promise<KindEngine<J, T, F, O, P>>;
}

/** Checks a kind object against the contract and keeps its precise types (for the registry). */
export function defineKind<S extends JobSchema, T extends TargetBase, F, O, P>(
  kind: Kind<S, T, F, O, P>,
): Kind<S, T, F, O, P> {
  return kind;
}
