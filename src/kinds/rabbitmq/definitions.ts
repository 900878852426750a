/**
 * RabbitMQ definitions documents (GET/POST /api/definitions): validation, per-vhost counts,
 * classic-mirroring detection, and the normalised comparison the drill relies on.
 *
 * Normalisation makes an export from the source broker and a re-export from a fresh broker of
 * another version comparable:
 *   - volatile top-level keys (rabbit_version, rabbitmq_version, product_*, explanation, ...) are
 *     not compared; only the object lists are;
 *   - every list is keyed by identity (vhost + name, user + vhost, ...) so order does not matter;
 *   - defaults are filled in: a queue without `x-queue-type` has its vhost's default queue type
 *     (else classic); vhost description/tags/default_queue_type are read from the top level or
 *     `metadata` (3.x vs 4.x), user and vhost tags are sorted lists (3.x writes "a,b");
 *     durable/auto_delete/internal/arguments/apply-to/priority get the broker's defaults;
 *   - objects the fresh broker creates itself are ignored on the restored side: its bootstrap
 *     user and that user's permissions, the vhost `/` when the backup has none, and the
 *     broker-owned global parameters (cluster_name, internal_cluster_id, cluster_tags).
 */
import { OperationError } from "../../errors.js";

export type Obj = Record<string, unknown>;

export const KINDS = [
  "users",
  "vhosts",
  "permissions",
  "topic_permissions",
  "parameters",
  "global_parameters",
  "policies",
  "queues",
  "exchanges",
  "bindings",
] as const;
export type Kind = (typeof KINDS)[number];

export interface Definitions {
  /** Kept as received (top-level metadata included); the lists below are views of it. */
  document: Obj;
  lists: Record<Kind, Obj[]>;
}

/** Lists every export has; a document without them is not a definitions export. */
const REQUIRED: readonly Kind[] = [
  "users",
  "vhosts",
  "permissions",
  "policies",
  "queues",
  "exchanges",
  "bindings",
];

/** Fields that identify an object of each kind (string-valued). */
const IDENTITY_FIELDS: Record<Kind, readonly string[]> = {
  users: ["name"],
  vhosts: ["name"],
  permissions: ["user", "vhost"],
  topic_permissions: ["user", "vhost", "exchange"],
  parameters: ["vhost", "component", "name"],
  global_parameters: ["name"],
  policies: ["vhost", "name"],
  queues: ["vhost", "name"],
  exchanges: ["vhost", "name"],
  bindings: ["vhost", "source", "destination_type", "destination"],
};

/** Singular, for messages. */
const LABEL: Record<Kind, string> = {
  users: "user",
  vhosts: "vhost",
  permissions: "permission",
  topic_permissions: "topic permission",
  parameters: "parameter",
  global_parameters: "global parameter",
  policies: "policy",
  queues: "queue",
  exchanges: "exchange",
  bindings: "binding",
};

/** Global parameters a broker sets for itself; they differ between any two clusters. */
export const BROKER_GLOBAL_PARAMETERS: ReadonlySet<string> = new Set([
  "cluster_name",
  "internal_cluster_id",
  "cluster_tags",
]);

function isObj(value: unknown): value is Obj {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Checks that `value` is a whole definitions export: an object with every expected list, each
 * entry an object with its identity fields. Throws an OperationError naming what is missing.
 */
export function parseDefinitions(value: unknown, where: string): Definitions {
  if (!isObj(value)) {
    throw new OperationError(
      `${where}: expected a definitions object, got ${Array.isArray(value) ? "an array" : typeof value}`,
    );
  }
  const missing = REQUIRED.filter((kind) => !Array.isArray(value[kind]));
  if (missing.length > 0) {
    throw new OperationError(
      `${where}: not a complete definitions export: missing ${missing.join(", ")} (partial response, or not the /api/definitions of a whole broker)`,
    );
  }
  const lists = {} as Record<Kind, Obj[]>;
  for (const kind of KINDS) {
    const raw = value[kind];
    if (raw !== undefined && !Array.isArray(raw)) throw new OperationError(`${where}: ${kind} is not a list`);
    const entries = (raw ?? []) as unknown[];
    entries.forEach((entry, index) => {
      if (!isObj(entry)) throw new OperationError(`${where}: ${kind}[${index}] is not an object`);
      for (const field of IDENTITY_FIELDS[kind]) {
        if (typeof entry[field] !== "string") {
          throw new OperationError(`${where}: ${kind}[${index}] has no ${field}`);
        }
      }
    });
    lists[kind] = entries as Obj[];
  }
  return { document: value, lists };
}

// ---- counts -----------------------------------------------------------------------------------

export interface VhostCounts {
  queues: number;
  exchanges: number;
  bindings: number;
  policies: number;
  operatorPolicies: number;
  parameters: number;
  permissions: number;
  topicPermissions: number;
}

export interface DefinitionCounts {
  users: number;
  vhosts: number;
  globalParameters: number;
  perVhost: Record<string, VhostCounts>;
}

const emptyVhost = (): VhostCounts => ({
  queues: 0,
  exchanges: 0,
  bindings: 0,
  policies: 0,
  operatorPolicies: 0,
  parameters: 0,
  permissions: 0,
  topicPermissions: 0,
});

export function countDefinitions(
  definitions: Definitions,
  options: { ignoreUser?: string; ignoreVhosts?: readonly string[] } = {},
): DefinitionCounts {
  const { lists } = definitions;
  const ignoredVhosts = new Set(options.ignoreVhosts ?? []);
  const perVhost: Record<string, VhostCounts> = {};
  const at = (vhost: unknown): VhostCounts | undefined => {
    const name = String(vhost);
    if (ignoredVhosts.has(name)) return undefined;
    perVhost[name] ??= emptyVhost();
    return perVhost[name];
  };
  for (const vhost of lists.vhosts) at(vhost.name);
  for (const q of lists.queues) {
    const c = at(q.vhost);
    if (c) c.queues += 1;
  }
  for (const e of lists.exchanges) {
    const c = at(e.vhost);
    if (c) c.exchanges += 1;
  }
  for (const b of lists.bindings) {
    const c = at(b.vhost);
    if (c) c.bindings += 1;
  }
  for (const p of lists.policies) {
    const c = at(p.vhost);
    if (c) c.policies += 1;
  }
  for (const p of lists.parameters) {
    const c = at(p.vhost);
    if (!c) continue;
    if (p.component === "operator_policy") c.operatorPolicies += 1;
    else c.parameters += 1;
  }
  for (const p of lists.permissions) {
    if (p.user === options.ignoreUser) continue;
    const c = at(p.vhost);
    if (c) c.permissions += 1;
  }
  for (const p of lists.topic_permissions) {
    if (p.user === options.ignoreUser) continue;
    const c = at(p.vhost);
    if (c) c.topicPermissions += 1;
  }
  return {
    users: lists.users.filter((u) => u.name !== options.ignoreUser).length,
    vhosts: lists.vhosts.filter((v) => !ignoredVhosts.has(String(v.name))).length,
    globalParameters: lists.global_parameters.filter((p) => !BROKER_GLOBAL_PARAMETERS.has(String(p.name)))
      .length,
    perVhost,
  };
}

/** Differences between two count sets, one line each ("vhost app: queues 3 → 2"). */
export function compareCounts(expected: DefinitionCounts, actual: DefinitionCounts): string[] {
  const out: string[] = [];
  for (const key of ["users", "vhosts", "globalParameters"] as const) {
    if (expected[key] !== actual[key])
      out.push(`${key}: ${expected[key]} in the backup, ${actual[key]} restored`);
  }
  const vhosts = [...new Set([...Object.keys(expected.perVhost), ...Object.keys(actual.perVhost)])].sort();
  for (const vhost of vhosts) {
    const e = expected.perVhost[vhost] ?? emptyVhost();
    const a = actual.perVhost[vhost] ?? emptyVhost();
    for (const key of Object.keys(e) as (keyof VhostCounts)[]) {
      if (e[key] !== a[key]) out.push(`vhost ${vhost}: ${key} ${e[key]} in the backup, ${a[key]} restored`);
    }
  }
  return out;
}

export function formatCounts(counts: DefinitionCounts): string {
  const vhosts = Object.entries(counts.perVhost)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, c]) => {
      const parts = Object.entries(c)
        .filter(([, n]) => n > 0)
        .map(([k, n]) => `${n} ${k}`);
      return `${name}: ${parts.length === 0 ? "empty" : parts.join(", ")}`;
    });
  return `${counts.users} users, ${counts.vhosts} vhosts, ${counts.globalParameters} global parameters; ${vhosts.join("; ")}`;
}

// ---- classic mirroring ------------------------------------------------------------------------

export interface MirroringPolicy {
  vhost: string;
  name: string;
  keys: string[];
  /** True when nothing but ha-* keys is in the definition, so stripping removes the policy. */
  onlyMirroring: boolean;
}

const isMirroringKey = (key: string): boolean => key.startsWith("ha-");

/** Policies with classic mirroring keys (ha-mode, ha-params, ha-sync-mode, ...), which 4.x refuses. */
export function findClassicMirroring(definitions: Definitions): MirroringPolicy[] {
  const out: MirroringPolicy[] = [];
  for (const policy of definitions.lists.policies) {
    const definition = isObj(policy.definition) ? policy.definition : {};
    const keys = Object.keys(definition).filter(isMirroringKey).sort();
    if (keys.length === 0) continue;
    out.push({
      vhost: String(policy.vhost),
      name: String(policy.name),
      keys,
      onlyMirroring: keys.length === Object.keys(definition).length,
    });
  }
  return out;
}

export function describeMirroring(found: readonly MirroringPolicy[]): string {
  return found
    .map(
      (p) =>
        `policy ${p.name} (vhost ${p.vhost}): ${p.keys.join(", ")}${p.onlyMirroring ? " (nothing else; the policy is dropped)" : ""}`,
    )
    .join("; ");
}

/** A copy of the document without ha-* policy keys; policies left empty are dropped. */
export function stripClassicMirroring(definitions: Definitions): Definitions {
  const policies: Obj[] = [];
  for (const policy of definitions.lists.policies) {
    const definition = isObj(policy.definition) ? policy.definition : {};
    const kept = Object.fromEntries(Object.entries(definition).filter(([key]) => !isMirroringKey(key)));
    if (Object.keys(kept).length === 0 && Object.keys(definition).length > 0) continue;
    policies.push({ ...policy, definition: kept });
  }
  const document = { ...definitions.document, policies };
  return { document, lists: { ...definitions.lists, policies } };
}

/**
 * The document to POST: broker-owned global parameters (cluster name and id) removed, so an
 * import never renames the target cluster or gives it the source's identity.
 */
export function forImport(definitions: Definitions): Definitions {
  const global_parameters = definitions.lists.global_parameters.filter(
    (p) => !BROKER_GLOBAL_PARAMETERS.has(String(p.name)),
  );
  return {
    document: { ...definitions.document, global_parameters },
    lists: { ...definitions.lists, global_parameters },
  };
}

/** Major version from "4.0.5" / "3.13.7"; NaN when unknown. */
export function majorVersion(version: string | undefined): number {
  const match = /^(\d+)\./.exec(version ?? "");
  return match === null ? Number.NaN : Number(match[1]);
}

/** The server version a document was exported from, if it says. */
export function documentVersion(definitions: Definitions): string | undefined {
  const doc = definitions.document;
  const version = doc.rabbitmq_version ?? doc.rabbit_version ?? doc.product_version;
  return typeof version === "string" ? version : undefined;
}

// ---- normalisation and comparison ---------------------------------------------------------------

/** JSON with object keys sorted at every level, so equal values serialise equally. */
export function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (isObj(value)) {
    return `{${Object.keys(value)
      .sort()
      .filter((key) => value[key] !== undefined)
      .map((key) => `${JSON.stringify(key)}:${canonical(value[key])}`)
      .join(",")}}`;
  }
  return JSON.stringify(value ?? null);
}

function tagList(value: unknown): string[] {
  if (Array.isArray(value))
    return value
      .map(String)
      .filter((t) => t !== "")
      .sort();
  if (typeof value === "string") {
    return value
      .split(",")
      .map((t) => t.trim())
      .filter((t) => t !== "")
      .sort();
  }
  return [];
}

const objOr = (value: unknown): Obj => (isObj(value) ? value : {});
const boolOr = (value: unknown, fallback: boolean): boolean =>
  typeof value === "boolean" ? value : fallback;

function queueType(value: unknown): string | undefined {
  return typeof value === "string" && value !== "" && value !== "undefined" ? value : undefined;
}

function normaliseOne(kind: Kind, o: Obj, vhostQueueType: Map<string, string>): Obj {
  switch (kind) {
    case "users":
      return {
        name: o.name,
        password_hash: o.password_hash ?? "",
        hashing_algorithm: o.hashing_algorithm ?? "rabbit_password_hashing_sha256",
        tags: tagList(o.tags),
        limits: objOr(o.limits),
      };
    case "vhosts": {
      const metadata = objOr(o.metadata);
      return {
        name: o.name,
        description: o.description ?? metadata.description ?? "",
        tags: tagList(o.tags ?? metadata.tags),
        default_queue_type: queueType(o.default_queue_type ?? metadata.default_queue_type) ?? "classic",
      };
    }
    case "permissions":
      return { user: o.user, vhost: o.vhost, configure: o.configure, write: o.write, read: o.read };
    case "topic_permissions":
      return { user: o.user, vhost: o.vhost, exchange: o.exchange, write: o.write, read: o.read };
    case "parameters": {
      let value = o.value;
      if (o.component === "operator_policy" && isObj(value)) {
        value = { ...value, "apply-to": value["apply-to"] ?? "all", priority: value.priority ?? 0 };
      }
      return { vhost: o.vhost, component: o.component, name: o.name, value };
    }
    case "global_parameters":
      return { name: o.name, value: o.value };
    case "policies":
      return {
        vhost: o.vhost,
        name: o.name,
        pattern: o.pattern,
        "apply-to": o["apply-to"] ?? "all",
        definition: objOr(o.definition),
        priority: o.priority ?? 0,
      };
    case "queues": {
      const args = objOr(o.arguments);
      const type = queueType(args["x-queue-type"]) ?? vhostQueueType.get(String(o.vhost)) ?? "classic";
      return {
        vhost: o.vhost,
        name: o.name,
        durable: boolOr(o.durable, true),
        auto_delete: boolOr(o.auto_delete, false),
        arguments: { ...args, "x-queue-type": type },
      };
    }
    case "exchanges":
      return {
        vhost: o.vhost,
        name: o.name,
        type: o.type,
        durable: boolOr(o.durable, true),
        auto_delete: boolOr(o.auto_delete, false),
        internal: boolOr(o.internal, false),
        arguments: objOr(o.arguments),
      };
    case "bindings":
      return {
        vhost: o.vhost,
        source: o.source,
        destination: o.destination,
        destination_type: o.destination_type,
        routing_key: o.routing_key ?? "",
        arguments: objOr(o.arguments),
      };
  }
}

function identity(kind: Kind, o: Obj): string {
  const parts = IDENTITY_FIELDS[kind].map((field) => String(o[field]));
  if (kind === "bindings") parts.push(String(o.routing_key ?? ""), canonical(objOr(o.arguments)));
  return JSON.stringify(parts);
}

/** `vhost/name`; objects in the default vhost `/` read `/name`. */
function qualified(vhost: unknown, name: unknown): string {
  const v = String(vhost);
  return v === "/" ? `/${String(name)}` : `${v}/${String(name)}`;
}

/** How an object is named in a difference ("queue app/orders", "binding app/hx → queue q1 ..."). */
function describe(kind: Kind, o: Obj): string {
  const label = LABEL[kind];
  switch (kind) {
    case "users":
    case "vhosts":
    case "global_parameters":
      return `${label} ${String(o.name)}`;
    case "permissions":
      return `${label} of user ${String(o.user)} on vhost ${String(o.vhost)}`;
    case "topic_permissions":
      return `${label} of user ${String(o.user)} on vhost ${String(o.vhost)}, exchange ${String(o.exchange)}`;
    case "parameters":
      return o.component === "operator_policy"
        ? `operator policy ${qualified(o.vhost, o.name)}`
        : `parameter ${String(o.component)} ${qualified(o.vhost, o.name)}`;
    case "policies":
    case "queues":
    case "exchanges":
      return `${label} ${qualified(o.vhost, o.name)}`;
    case "bindings": {
      const args = canonical(objOr(o.arguments));
      return (
        `binding ${qualified(o.vhost, String(o.source) || "(default exchange)")} → ${String(o.destination_type)} ${String(o.destination)}` +
        ` (routing key ${JSON.stringify(o.routing_key ?? "")}${args === "{}" ? "" : `, arguments ${args}`})`
      );
    }
  }
}

/** Fields whose values are shown as "differs" only. */
const HIDDEN_FIELDS = new Set(["password_hash"]);

export interface NormaliseOptions {
  /** The fresh broker's own bootstrap user, ignored with its permissions. */
  ignoreUser?: string;
  /** Vhosts the fresh broker creates itself that the backup does not have. */
  ignoreVhosts?: readonly string[];
}

export type Normalised = Record<Kind, Map<string, { object: Obj; text: string }>>;

export function normalise(definitions: Definitions, options: NormaliseOptions = {}): Normalised {
  const vhostQueueType = new Map<string, string>();
  for (const vhost of definitions.lists.vhosts) {
    const type = queueType(vhost.default_queue_type ?? objOr(vhost.metadata).default_queue_type);
    if (type !== undefined) vhostQueueType.set(String(vhost.name), type);
  }
  const ignoredVhosts = new Set(options.ignoreVhosts ?? []);
  const out = {} as Normalised;
  for (const kind of KINDS) {
    const map = new Map<string, { object: Obj; text: string }>();
    for (const raw of definitions.lists[kind]) {
      if (kind === "global_parameters" && BROKER_GLOBAL_PARAMETERS.has(String(raw.name))) continue;
      if (kind === "users" && raw.name === options.ignoreUser) continue;
      if ((kind === "permissions" || kind === "topic_permissions") && raw.user === options.ignoreUser)
        continue;
      if (kind === "vhosts" && ignoredVhosts.has(String(raw.name))) continue;
      if (kind === "permissions" && ignoredVhosts.has(String(raw.vhost))) continue;
      const object = normaliseOne(kind, raw, vhostQueueType);
      map.set(identity(kind, raw), { object, text: canonical(object) });
    }
    out[kind] = map;
  }
  return out;
}

function fieldDifferences(a: Obj, b: Obj): string[] {
  const out: string[] = [];
  for (const key of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) {
    const left = canonical(a[key]);
    const right = canonical(b[key]);
    if (left === right) continue;
    out.push(HIDDEN_FIELDS.has(key) ? `${key} differs` : `${key}: ${left} in the backup, ${right} restored`);
  }
  return out;
}

/**
 * Every difference between the backup (`expected`) and what the target holds (`actual`), one
 * line each, in a stable order. Empty when they are equal after normalisation.
 */
export function diffDefinitions(expected: Normalised, actual: Normalised): string[] {
  const out: string[] = [];
  for (const kind of KINDS) {
    const left = expected[kind];
    const right = actual[kind];
    const keys = [...new Set([...left.keys(), ...right.keys()])].sort();
    for (const key of keys) {
      const a = left.get(key);
      const b = right.get(key);
      if (a !== undefined && b === undefined) out.push(`${describe(kind, a.object)}: missing after import`);
      else if (a === undefined && b !== undefined)
        out.push(`${describe(kind, b.object)}: present after import but not in the backup`);
      else if (a !== undefined && b !== undefined && a.text !== b.text) {
        out.push(`${describe(kind, a.object)}: ${fieldDifferences(a.object, b.object).join("; ")}`);
      }
    }
  }
  return out;
}

/** Per kind: the objects of `wanted` that `existing` lacks, and those it already has. */
export function partitionExisting(
  wanted: Normalised,
  existing: Normalised,
): Array<{ kind: Kind; label: string; create: string[]; exists: string[] }> {
  return KINDS.map((kind) => {
    const create: string[] = [];
    const exists: string[] = [];
    for (const [key, { object }] of [...wanted[kind].entries()].sort(([a], [b]) => a.localeCompare(b))) {
      (existing[kind].has(key) ? exists : create).push(describe(kind, object));
    }
    return { kind, label: LABEL[kind], create, exists };
  });
}
