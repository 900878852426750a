/**
 * Loads a config directory: policies/, jobs/ and drills/, one object per YAML file. Every problem in
 * every file is collected before anything is thrown, so one `backdrill validate` run shows them all.
 */
import type { Dirent } from "node:fs";
import { readdir, readFile, stat } from "node:fs/promises";
import { resolve } from "node:path";
import type * as z from "zod";
import { ConfigError, type ConfigIssue } from "../errors.js";
import { crossFileIssues, uniqueByName, type Parsed } from "./cross-file.js";
import { drillSchema, type Drill } from "./drill-schema.js";
import { jobSchema, type Job } from "../kinds/registry.js";
import { policySchema, type Policy } from "../schema/policy.js";
import type { Config, LoadConfigOptions, LoadedDrill, LoadedJob, LoadedPolicy } from "./types.js";
import { validateDocument } from "./validate.js";
import { parseConfigDocument } from "./yaml-document.js";

const CONFIG_DIR_HINT = "run from the config directory, pass --config-dir, or set BACKDRILL_CONFIG_DIR";

function errorCode(error: unknown): string | undefined {
  return error instanceof Error && "code" in error ? String(error.code) : undefined;
}

function describeFsError(error: unknown): string {
  const code = errorCode(error);
  if (code === "EACCES" || code === "EPERM") return "permission denied; check the owner and mode";
  if (code === "ENOTDIR") return "is not a directory";
  if (code === "EISDIR") return "is a directory, not a file";
  return error instanceof Error ? error.message : String(error);
}

/** YAML files in one section directory, sorted; a missing directory is simply empty. */
async function listSection(dir: string, section: string, issues: ConfigIssue[]): Promise<string[]> {
  let entries: Dirent[];
  try {
    entries = await readdir(resolve(dir, section), { withFileTypes: true });
  } catch (error) {
    if (errorCode(error) === "ENOENT") return [];
    issues.push({ file: section, path: "", message: `cannot read directory: ${describeFsError(error)}` });
    return [];
  }
  return entries
    .filter((entry) => !entry.name.startsWith(".") && /\.ya?ml$/.test(entry.name))
    .filter((entry) => !entry.isDirectory())
    .map((entry) => `${section}/${entry.name}`)
    .sort();
}

interface SectionResult<T> {
  parsed: Parsed<T>[];
  /** Names found in files that failed validation. */
  broken: Set<string>;
}

async function loadSection<S extends z.ZodType<{ name: string }>>(
  dir: string,
  section: string,
  what: string,
  schema: S,
  env: NodeJS.ProcessEnv,
  issues: ConfigIssue[],
): Promise<SectionResult<z.output<S>>> {
  const files = await listSection(dir, section, issues);
  const parsed: Parsed<z.output<S>>[] = [];
  const broken = new Set<string>();
  for (const file of files) {
    let text: string;
    try {
      text = await readFile(resolve(dir, file), "utf8");
    } catch (error) {
      issues.push({ file, path: "", message: `cannot read file: ${describeFsError(error)}` });
      continue;
    }
    const document = parseConfigDocument(text, what);
    if (!document.ok) {
      issues.push(...document.issues.map((issue) => ({ file, ...issue })));
      continue;
    }
    const result = validateDocument(schema, document.value, env);
    if (!result.ok) {
      issues.push(...result.issues.map((issue) => ({ file, ...issue })));
      if (typeof document.value.name === "string") broken.add(document.value.name);
      continue;
    }
    parsed.push({ file, value: result.value });
  }
  return { parsed, broken };
}

async function checkConfigDir(dir: string): Promise<void> {
  let isDirectory: boolean;
  try {
    isDirectory = (await stat(dir)).isDirectory();
  } catch (error) {
    const reason = errorCode(error) === "ENOENT" ? "does not exist" : describeFsError(error);
    throw new ConfigError([
      { file: "", path: "", message: `config directory ${dir} ${reason}; ${CONFIG_DIR_HINT}` },
    ]);
  }
  if (!isDirectory) {
    throw new ConfigError([
      { file: "", path: "", message: `config directory ${dir} is not a directory; ${CONFIG_DIR_HINT}` },
    ]);
  }
}

function byName<T, L>(items: ReadonlyMap<string, Parsed<T>>, wrap: (item: Parsed<T>) => L): Map<string, L> {
  return new Map([...items.keys()].sort().map((name) => [name, wrap(items.get(name) as Parsed<T>)]));
}

export async function loadConfig(options: LoadConfigOptions): Promise<Config> {
  const dir = resolve(options.dir);
  const env = options.env ?? process.env;
  await checkConfigDir(dir);

  const issues: ConfigIssue[] = [];
  const policies = await loadSection(dir, "policies", "policy", policySchema, env, issues);
  const jobs = await loadSection(dir, "jobs", "job", jobSchema, env, issues);
  const drills = await loadSection(dir, "drills", "drill", drillSchema, env, issues);

  const fileCount =
    policies.parsed.length +
    jobs.parsed.length +
    drills.parsed.length +
    new Set(issues.map((i) => i.file)).size;
  if (fileCount === 0) {
    throw new ConfigError([
      {
        file: "",
        path: "",
        message: `no config files in ${dir}: expected policies/*.yaml, jobs/*.yaml and drills/*.yaml; ${CONFIG_DIR_HINT}`,
      },
    ]);
  }

  const policyByName = uniqueByName<Policy>(policies.parsed, "policy", issues);
  const jobByName = uniqueByName<Job>(jobs.parsed, "job", issues);
  const drillByName = uniqueByName<Drill>(drills.parsed, "drill", issues);
  issues.push(
    ...crossFileIssues(
      {
        policies: policies.parsed,
        jobs: jobs.parsed,
        drills: drills.parsed,
        brokenNames: { policies: policies.broken, jobs: jobs.broken },
      },
      policyByName,
      jobByName,
    ),
  );

  if (issues.length > 0) throw new ConfigError(sortIssues(issues));

  return {
    dir,
    policies: byName(policyByName, (item): LoadedPolicy => ({ file: item.file, policy: item.value })),
    jobs: byName(jobByName, (item): LoadedJob => ({ file: item.file, job: item.value })),
    drills: byName(drillByName, (item): LoadedDrill => ({
      file: item.file,
      drill: { ...item.value, reportDir: resolve(dir, item.value.reportDir) },
    })),
  };
}

const SECTION_ORDER = ["policies/", "jobs/", "drills/"];

/** Groups issues by file (sections in load order), keeping each file's own order. */
function sortIssues(issues: ConfigIssue[]): ConfigIssue[] {
  const rank = (file: string): number => {
    const index = SECTION_ORDER.findIndex((prefix) => file.startsWith(prefix));
    return index < 0 ? -1 : index;
  };
  return issues
    .map((issue, index) => ({ issue, index }))
    .sort(
      (a, b) =>
        rank(a.issue.file) - rank(b.issue.file) ||
        (a.issue.file < b.issue.file ? -1 : a.issue.file > b.issue.file ? 1 : 0) ||
        a.index - b.index,
    )
    .map(({ issue }) => issue);
}
