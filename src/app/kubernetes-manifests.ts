/**
 * `backdrill cron --kubernetes`: the schedules of `backdrill cron` as Kubernetes objects. Pure:
 * the loaded config and its files' raw text in, objects out (the CLI prints them as YAML).
 *
 *   - one ConfigMap with the config directory's policy, job and drill files as written (with their
 *     `${VAR}` references, expanded in the pod like on a host), mounted at the image's config dir;
 *   - a CronJob per scheduled backup (`backup <job>`, then `prune <job>` as the main container
 *     after the backup's init container succeeded: no shell between them) and per scheduled drill,
 *     with the schedules of `backdrill cron` (cron-units.ts parses them, scheduler.ts lists them);
 *   - a Deployment (1 replica, Recreate: never two shippers) per `wal ship` feeder, where
 *     `backdrill cron` writes a restarting service.
 *
 * Secrets are references only (kubernetes-manifests-secrets.ts): env vars from `secretKeyRef`,
 * files from the Secret's keys, copied by an init container into a memory volume with mode 0600
 * (backdrill refuses a signing key others can read, and Secret volumes are root-owned) and
 * mounted at the paths the config names. Every pod runs as the image's non-root user with a
 * read-only root file system; /tmp and the home are memory-backed or node-local scratch volumes.
 */
import { isAbsolute, join, posix, relative } from "node:path";
import type { Config, LoadedDrill, LoadedJob } from "../config/types.js";
import { UsageError } from "../errors.js";
import { kindOf } from "../kinds/registry.js";
import { type DaemonTask, daemonTasks, parseCron } from "./cron-units.js";
import {
  backupPodSecrets,
  drillPodSecrets,
  FileKeys,
  type PodSecrets,
  variableNames,
} from "./kubernetes-manifests-secrets.js";
import type {
  ConfigMapObject,
  Container,
  CronJobObject,
  DeploymentObject,
  EnvVar,
  KubernetesObject,
  ObjectMeta,
  PodSpec,
  PodTemplate,
  Volume,
  VolumeMount,
} from "./kubernetes-manifests-types.js";
import { scheduledTasks, type ScheduledTask } from "./scheduler.js";
import { createHash } from "node:crypto";

export interface KubernetesOptions {
  image: string;
  namespace: string;
  /** Name of the Secret every secret reference points into. */
  secret: string;
  /** DOCKER_HOST of drill pods (and of backups whose kind runs containers). */
  dockerHost?: string | undefined;
  /** `prune <job>` after each successful backup. */
  prune: boolean;
}

/** A config file as the loader read it: path relative to the config dir, and its text. */
export interface ConfigFileText {
  file: string;
  text: string;
}

/** The image's user (docker/backdrill/Dockerfile) and where it expects the config. */
export const IMAGE_UID = 10001;
export const POD_CONFIG_DIR = "/etc/backdrill/config";
const KEYS_SOURCE = "/run/backdrill/secret";
const KEYS_DIR = "/run/backdrill/keys";
const HOME = "/var/lib/backdrill";
/** A ConfigMap holds at most 1 MiB. */
const CONFIG_MAP_LIMIT = 1024 * 1024;
/** CronJob names: 52 characters, so the Jobs' generated names stay within 63. */
const CRONJOB_NAME_MAX = 52;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

/** Flag checks, before the config is read: exit 2 naming the flag. */
export function checkKubernetesOptions(options: KubernetesOptions): void {
  if (options.image === "" || /\s/.test(options.image)) {
    throw new UsageError(
      `--image: expected an image reference like registry.example/backdrill:0.1.0, got ${JSON.stringify(options.image)}`,
    );
  }
  if (options.namespace.length > 63 || !DNS_LABEL.test(options.namespace)) {
    throw new UsageError(
      `--namespace: ${JSON.stringify(options.namespace)} is not a Kubernetes namespace name (lower-case letters, digits, "-"; at most 63)`,
    );
  }
  if (options.secret.length > 253 || !DNS_SUBDOMAIN.test(options.secret)) {
    throw new UsageError(
      `--secret: ${JSON.stringify(options.secret)} is not a Kubernetes Secret name (lower-case letters, digits, "-", "."; at most 253)`,
    );
  }
}

/**
 * A Kubernetes name for a backdrill name (which may hold capitals, "_" and "."): lower-cased,
 * other characters as "-", and when that changed anything or was too long, a short hash of the
 * original, so two backdrill names never meet in one object name.
 */
export function objectName(prefix: string, name: string, max: number): string {
  const plain = `${prefix}-${name}`;
  const cleaned = plain
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, "-")
    .replace(/-+$/, "");
  if (cleaned === plain && cleaned.length <= max) return cleaned;
  const hash = createHash("sha256").update(name).digest("hex").slice(0, 8);
  return `${cleaned.slice(0, max - hash.length - 1).replace(/-+$/, "")}-${hash}`;
}

function labels(component: string, instance: string): Record<string, string> {
  return {
    "app.kubernetes.io/name": "backdrill",
    "app.kubernetes.io/component": component,
    "app.kubernetes.io/instance": instance,
    "app.kubernetes.io/managed-by": "backdrill-cron",
  };
}

function meta(
  name: string,
  options: KubernetesOptions,
  objectLabels: Record<string, string>,
  what?: string,
): ObjectMeta {
  return {
    name,
    namespace: options.namespace,
    labels: objectLabels,
    ...(what === undefined ? {} : { annotations: { "backdrill.dev/what": what } }),
  };
}

/** ConfigMap keys cannot hold "/": `policies/nightly.yaml` is key `policies.nightly.yaml`. */
function configKey(file: string): string {
  const key = file.replace(/\//g, ".");
  if (!/^[-._a-zA-Z0-9]{1,253}$/.test(key)) {
    throw new UsageError(
      `${file}: the file name cannot be a Kubernetes ConfigMap key (letters, digits, ".", "_", "-")`,
      { hint: "rename the file" },
    );
  }
  return key;
}

export const CONFIG_MAP_NAME = "backdrill-config";

function configMap(files: readonly ConfigFileText[], options: KubernetesOptions): ConfigMapObject {
  const data: Record<string, string> = {};
  let size = 0;
  for (const { file, text } of files) {
    data[configKey(file)] = text;
    size += Buffer.byteLength(text);
  }
  if (size > CONFIG_MAP_LIMIT) {
    throw new UsageError(`the config files hold ${size} bytes; a ConfigMap holds at most 1 MiB`);
  }
  return {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: meta(CONFIG_MAP_NAME, options, labels("config", "config")),
    data,
  };
}

interface PodParts {
  env: EnvVar[];
  volumes: Volume[];
  mounts: VolumeMount[];
  initContainers: Container[];
}

function container(
  name: string,
  args: string[],
  parts: { env: EnvVar[]; mounts: VolumeMount[] },
  options: KubernetesOptions,
): Container {
  return {
    name,
    image: options.image,
    args,
    env: parts.env,
    volumeMounts: parts.mounts,
    resources: { requests: { cpu: "100m", memory: "256Mi" }, limits: { memory: "2Gi" } },
    securityContext: {
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ["ALL"] },
    },
  };
}

/** Volumes, mounts, env and the key-copying init container every pod shares. */
function podParts(
  files: readonly ConfigFileText[],
  secrets: PodSecrets,
  options: KubernetesOptions,
  extra: { mounts: { path: string; volume: Volume }[]; env: EnvVar[] },
): PodParts {
  const volumes: Volume[] = [
    {
      name: "config",
      configMap: {
        name: CONFIG_MAP_NAME,
        items: files.map(({ file }) => ({ key: configKey(file), path: file })),
        defaultMode: 0o444,
      },
    },
    { name: "tmp", emptyDir: {} },
    { name: "home", emptyDir: {} },
  ];
  const mounts: VolumeMount[] = [
    // One mount per section, not the ConfigMap at the config dir: a read-only ConfigMap volume
    // cannot take the mount point of a reportDir inside the config dir.
    ...[...new Set(files.map(({ file }) => file.split("/")[0] ?? ""))].map((section) => ({
      name: "config",
      mountPath: posix.join(POD_CONFIG_DIR, section),
      subPath: section,
      readOnly: true,
    })),
    { name: "tmp", mountPath: "/tmp" },
    { name: "home", mountPath: HOME },
  ];
  const env: EnvVar[] = secrets.env.map(({ name, optional }) => ({
    name,
    valueFrom: { secretKeyRef: { name: options.secret, key: name, ...(optional ? { optional: true } : {}) } },
  }));
  env.push(...extra.env);
  const initContainers: Container[] = [];
  if (secrets.files.length > 0) {
    // Only this pod's keys are projected: the identity is not even in a backup pod's volume.
    volumes.push(
      {
        name: "secret",
        secret: {
          secretName: options.secret,
          items: secrets.files.map(({ key }) => ({ key, path: key })),
          defaultMode: 0o440,
        },
      },
      { name: "keys", emptyDir: { medium: "Memory", sizeLimit: "16Mi" } },
    );
    const copy = container(
      "keys",
      [],
      {
        env: [],
        mounts: [
          { name: "secret", mountPath: KEYS_SOURCE, readOnly: true },
          { name: "keys", mountPath: KEYS_DIR },
        ],
      },
      options,
    );
    copy.command = [
      "install",
      "-m",
      "0600",
      "-t",
      KEYS_DIR,
      ...secrets.files.map(({ key }) => posix.join(KEYS_SOURCE, key)),
    ];
    initContainers.push(copy);
    for (const { path, key } of secrets.files) {
      mounts.push({ name: "keys", mountPath: path, subPath: key, readOnly: true });
    }
  }
  extra.mounts.forEach(({ path, volume }) => {
    volumes.push(volume);
    mounts.push({ name: volume.name, mountPath: path });
  });
  return { env, volumes, mounts, initContainers };
}

function podSpec(
  restartPolicy: PodSpec["restartPolicy"],
  parts: PodParts,
  containers: Container[],
  initContainers: Container[] = [],
): PodSpec {
  const allInit = [...parts.initContainers, ...initContainers];
  return {
    restartPolicy,
    securityContext: {
      runAsNonRoot: true,
      runAsUser: IMAGE_UID,
      runAsGroup: IMAGE_UID,
      fsGroup: IMAGE_UID,
      seccompProfile: { type: "RuntimeDefault" },
    },
    automountServiceAccountToken: false,
    ...(allInit.length === 0 ? {} : { initContainers: allInit }),
    containers,
    volumes: parts.volumes,
  };
}

/** The 5-field schedule Kubernetes takes; a seconds field is refused, as for crontab. */
function cronSchedule(task: ScheduledTask): string {
  const where = `${task.file} (${task.kind} ${task.name})`;
  const fields = parseCron(task.schedule, where);
  if (fields.seconds.length !== 1 || fields.seconds[0] !== 0) {
    throw new UsageError(
      `${where}: schedule ${JSON.stringify(task.schedule)} needs a seconds field other than 0, which a Kubernetes CronJob cannot express`,
      { hint: "use `backdrill cron --format systemd` or `backdrill schedule`" },
    );
  }
  return fields.text.join(" ");
}

function cronJob(
  task: ScheduledTask,
  name: string,
  component: string,
  spec: PodSpec,
  options: KubernetesOptions,
  what: string,
): CronJobObject {
  const podLabels = labels(component, name);
  const template: PodTemplate = { metadata: { labels: podLabels }, spec };
  return {
    apiVersion: "batch/v1",
    kind: "CronJob",
    metadata: meta(name, options, podLabels, what),
    spec: {
      schedule: cronSchedule(task),
      ...(task.timezone === undefined ? {} : { timeZone: task.timezone }),
      // Like `backdrill schedule`: a run still going when the next is due means the next is skipped.
      concurrencyPolicy: "Forbid",
      // A run missed by more than an hour (controller down) waits for its next time.
      startingDeadlineSeconds: 3600,
      successfulJobsHistoryLimit: 3,
      failedJobsHistoryLimit: 5,
      // No retries: a failed backup or drill is an alert, and the next run is the schedule's.
      jobTemplate: { metadata: { labels: podLabels }, spec: { backoffLimit: 0, template } },
    },
  };
}

/** Local repositories (and copies) live on a PersistentVolumeClaim the operator provides. */
function repositoryMounts(config: Config, policyName: string): { path: string; volume: Volume }[] {
  const loaded = config.policies.get(policyName);
  if (loaded === undefined) return [];
  const repositories = [loaded.policy.repository, ...(loaded.policy.copies ?? [])];
  const mounts: { path: string; volume: Volume }[] = [];
  repositories.forEach((repository, index) => {
    if (repository.type !== "local") return;
    const suffix = index === 0 ? policyName : `${policyName}-copy-${index}`;
    mounts.push({
      path: repository.path,
      volume: {
        name: `repository-${index}`,
        persistentVolumeClaim: { claimName: objectName("backdrill-repository", suffix, 63) },
      },
    });
  });
  return mounts;
}

function dockerEnv(options: KubernetesOptions): EnvVar[] {
  return options.dockerHost === undefined ? [] : [{ name: "DOCKER_HOST", value: options.dockerHost }];
}

function needsEngine(where: string, options: KubernetesOptions): void {
  if (options.dockerHost !== undefined) return;
  throw new UsageError(
    `${where} runs containers, and a pod has no Docker engine of its own: pass --docker-host`,
    {
      hint: "--docker-host tcp://docker-engine.example:2376 (an engine the pods can reach; a unix:// socket must be mounted into the pods by you)",
    },
  );
}

function backupCronJob(
  config: Config,
  task: ScheduledTask,
  job: LoadedJob,
  files: readonly ConfigFileText[],
  variables: string[],
  keys: FileKeys,
  options: KubernetesOptions,
): CronJobObject {
  const usesDocker = kindOf(job.job.kind).usesDocker(job.job);
  if (usesDocker) needsEngine(`${job.file}: job ${job.job.name}`, options);
  const secrets = backupPodSecrets(config, job, variables, keys, { jobSecrets: true });
  const parts = podParts(files, secrets, options, {
    mounts: repositoryMounts(config, job.job.policy),
    env: usesDocker ? dockerEnv(options) : [],
  });
  const name = objectName("backdrill-backup", job.job.name, CRONJOB_NAME_MAX);
  const backup = container(
    "backup",
    ["backup", job.job.name],
    { env: parts.env, mounts: parts.mounts },
    options,
  );
  const spec = options.prune
    ? podSpec(
        "Never",
        parts,
        [container("prune", ["prune", job.job.name], { env: parts.env, mounts: parts.mounts }, options)],
        [backup],
      )
    : podSpec("Never", parts, [backup]);
  return cronJob(task, name, "backup", spec, options, `backup of job ${job.job.name}`);
}

/** Where the drill's reports go in the pod: relative reportDirs are relative to the config dir. */
function podReportDir(config: Config, drill: LoadedDrill): string {
  const inside = relative(config.dir, drill.drill.reportDir);
  return !inside.startsWith("..") && !isAbsolute(inside)
    ? join(POD_CONFIG_DIR, inside)
    : drill.drill.reportDir;
}

function drillCronJob(
  config: Config,
  task: ScheduledTask,
  drill: LoadedDrill,
  files: readonly ConfigFileText[],
  variables: string[],
  keys: FileKeys,
  options: KubernetesOptions,
): CronJobObject {
  const engine = drill.drill.engine;
  if (engine === undefined) needsEngine(`${drill.file}: drill ${drill.drill.name}`, options);
  const secrets = drillPodSecrets(config, drill, variables, keys);
  const policies = new Set(
    drill.drill.targets.map((target) => config.jobs.get(target.job)?.job.policy ?? ""),
  );
  const reportDir = podReportDir(config, drill);
  const scratch = reportDir === "/tmp" || reportDir.startsWith("/tmp/");
  const parts = podParts(files, secrets, options, {
    mounts: [
      ...[...policies].sort().flatMap((policy) => repositoryMounts(config, policy)),
      // Reports also go into the repository (drill history); this copy lives as long as the pod.
      ...(scratch ? [] : [{ path: reportDir, volume: { name: "reports", emptyDir: {} } }]),
    ],
    env: engine === undefined ? dockerEnv(options) : [],
  });
  const name = objectName("backdrill-drill", drill.drill.name, CRONJOB_NAME_MAX);
  const spec = podSpec("Never", parts, [
    container("drill", ["drill", drill.drill.name], { env: parts.env, mounts: parts.mounts }, options),
  ]);
  return cronJob(task, name, "drill", spec, options, `restore drill ${drill.drill.name}`);
}

function daemonDeployment(
  config: Config,
  daemon: DaemonTask,
  files: readonly ConfigFileText[],
  variables: string[],
  keys: FileKeys,
  options: KubernetesOptions,
): DeploymentObject {
  const job = config.jobs.get(daemon.job);
  if (job === undefined) throw new UsageError(`${daemon.file}: unknown job ${daemon.job}`);
  // The shipper stores and encrypts: the policy's credentials and recipients, not the job's own.
  const secrets = backupPodSecrets(config, job, variables, keys, { jobSecrets: false });
  const name = objectName(`backdrill-${daemon.args.slice(0, 2).join("-")}`, daemon.job, 63);
  const spool = daemon.args[3];
  const parts = podParts(files, secrets, options, {
    mounts: [
      ...repositoryMounts(config, job.job.policy),
      // The spool PostgreSQL's archive_command writes into: a volume shared with the database.
      ...(spool === undefined
        ? []
        : [
            {
              path: spool,
              volume: {
                name: "spool",
                persistentVolumeClaim: { claimName: objectName("backdrill-spool", daemon.job, 63) },
              },
            },
          ]),
    ],
    env: [],
  });
  const podLabels = labels(daemon.args.slice(0, 2).join("-"), name);
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: meta(name, options, podLabels, daemon.what),
    spec: {
      replicas: 1,
      strategy: { type: "Recreate" },
      selector: { matchLabels: podLabels },
      template: {
        metadata: { labels: podLabels },
        spec: podSpec("Always", parts, [
          container("ship", daemon.args, { env: parts.env, mounts: parts.mounts }, options),
        ]),
      },
    },
  };
}

/** Every object, ConfigMap first. UsageError (exit 2) for what Kubernetes cannot express. */
export function kubernetesManifests(
  config: Config,
  files: readonly ConfigFileText[],
  options: KubernetesOptions,
): KubernetesObject[] {
  checkKubernetesOptions(options);
  const tasks = scheduledTasks(config);
  const daemons = daemonTasks(config);
  if (tasks.length === 0 && daemons.length === 0) {
    throw new UsageError(
      "nothing to schedule: no policy or drill has a schedule, and no postgres-base job a spool",
    );
  }
  const variables = variableNames(files);
  const keys = new FileKeys();
  const objects: KubernetesObject[] = [configMap(files, options)];
  for (const task of tasks) {
    if (task.kind === "backup") {
      const job = config.jobs.get(task.name);
      if (job !== undefined) objects.push(backupCronJob(config, task, job, files, variables, keys, options));
    } else {
      const drill = config.drills.get(task.name);
      if (drill?.drill.stack !== undefined) continue;
      if (drill !== undefined)
        objects.push(drillCronJob(config, task, drill, files, variables, keys, options));
    }
  }
  for (const daemon of daemons)
    objects.push(daemonDeployment(config, daemon, files, variables, keys, options));
  // Pods read the config once, at start (subPath mounts are not refreshed either): a changed
  // config changes this annotation, which rolls the wal ship Deployments on `kubectl apply`.
  const digest = createHash("sha256");
  for (const { file, text } of files) digest.update(`${file}\0${text}\0`);
  const annotations = { "backdrill.dev/config-sha256": digest.digest("hex") };
  for (const object of objects) {
    if (object.kind === "CronJob") object.spec.jobTemplate.spec.template.metadata.annotations = annotations;
    if (object.kind === "Deployment") object.spec.template.metadata.annotations = annotations;
  }
  return objects;
}

/**
 * Scheduled drills left out: a stack drill reaches its services through tunnels on the drill
 * host's 127.0.0.1 and needs its engine there (README, "Drills on another Docker engine"), which a
 * pod with a DOCKER_HOST elsewhere is not. The CLI names them in a comment.
 */
export function unscheduledStackDrills(config: Config): string[] {
  return scheduledTasks(config)
    .filter((task) => task.kind === "drill" && config.drills.get(task.name)?.drill.stack !== undefined)
    .map((task) => task.name);
}

/** Every Secret key the objects read, for the operator's `kubectl create secret` line. */
export function secretKeys(objects: readonly KubernetesObject[]): string[] {
  const keys = new Set<string>();
  for (const object of objects) {
    if (object.kind === "ConfigMap") continue;
    const spec =
      object.kind === "CronJob" ? object.spec.jobTemplate.spec.template.spec : object.spec.template.spec;
    for (const volume of spec.volumes) for (const item of volume.secret?.items ?? []) keys.add(item.key);
    for (const container of [...(spec.initContainers ?? []), ...spec.containers])
      for (const env of container.env)
        if (env.valueFrom !== undefined && env.valueFrom.secretKeyRef.optional !== true)
          keys.add(env.valueFrom.secretKeyRef.key);
  }
  return [...keys].sort();
}
