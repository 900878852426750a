/**
 * Host tools for the development scripts (npm run demo, npm run test:env, the integration global
 * setup, scripts/ensure-docker.sh through scripts/host-tools.ts): a missing command is installed
 * with apt-get when we are root on Debian/Ubuntu, otherwise the run stops with one line naming the
 * command and its Debian package. Which package provides which command is the product's table
 * (src/exec/host-tools.ts); the product itself never installs anything.
 */
import { constants } from "node:fs";
import { access, readFile, stat } from "node:fs/promises";
import path from "node:path";
import { execa } from "execa";
import { installCandidates, missingToolMessage, packageFor } from "../../src/exec/host-tools.js";

export class HostToolsError extends Error {
  override name = "HostToolsError";
}

export interface EnsureToolsOptions {
  /** Progress lines (what gets installed); default: stderr. */
  log?: (line: string) => void;
  env?: NodeJS.ProcessEnv;
  /** Never install, only report (what `--check` asks for). */
  checkOnly?: boolean;
}

/** The executable `command` resolves to through PATH (or itself, when it holds a slash). */
export async function whichCommand(
  command: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string | undefined> {
  const candidates = command.includes("/")
    ? [command]
    : (env.PATH ?? "")
        .split(path.delimiter)
        .filter((dir) => dir !== "")
        .map((dir) => path.join(dir, command));
  for (const candidate of candidates) {
    const info = await stat(candidate).catch(() => undefined);
    if (info?.isFile() !== true) continue;
    if (
      await access(candidate, constants.X_OK).then(
        () => true,
        () => false,
      )
    )
      return candidate;
  }
  return undefined;
}

/** The commands among `commands` that are not on PATH, in the order given, without repeats. */
export async function missingCommands(
  commands: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<string[]> {
  const missing: string[] = [];
  for (const command of new Set(commands)) {
    if ((await whichCommand(command, env)) === undefined) missing.push(command);
  }
  return missing;
}

/**
 * One line for everything missing: the product's line for one command, e.g.
 * `debootstrap not found: install the Debian package debootstrap (apt-get install debootstrap)`,
 * or every command and one apt-get line for several.
 */
export function missingToolsLine(missing: readonly string[], why = ""): string {
  const suffix = why === "" ? "" : ` (${why})`;
  if (missing.length === 1) return `${missingToolMessage(missing[0] ?? "")}${suffix}`;
  const packages = [...new Set(missing.map((command) => packageFor(command) ?? command))];
  return (
    `${missing.join(", ")} not found: install the Debian packages ${packages.join(", ")} ` +
    `(apt-get install ${packages.join(" ")})${suffix}`
  );
}

/** Why this process may not install packages itself, or undefined when it may. */
export async function whyNoInstall(env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return "not root, so not installed automatically";
  const osRelease = await readFile("/etc/os-release", "utf8").catch(() => "");
  const field = (name: string): string =>
    new RegExp(`^${name}=("?)([^"\\n]*)\\1$`, "m").exec(osRelease)?.[2]?.toLowerCase() ?? "";
  const family = `${field("ID")} ${field("ID_LIKE")}`.split(/\s+/);
  if (!family.includes("debian") && !family.includes("ubuntu"))
    return "not Debian or Ubuntu, so not installed automatically";
  if ((await whichCommand("apt-get", env)) === undefined) return "no apt-get, so not installed automatically";
  return undefined;
}

/**
 * Makes every command in `commands` available: installs the missing ones (root on Debian/Ubuntu),
 * or throws a HostToolsError with one line. Returns the packages it installed.
 */
export async function ensureHostTools(
  commands: readonly string[],
  options: EnsureToolsOptions = {},
): Promise<string[]> {
  const env = options.env ?? process.env;
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const missing = await missingCommands(commands, env);
  if (missing.length === 0) return [];
  const why = options.checkOnly === true ? "" : await whyNoInstall(env);
  if (options.checkOnly === true || why !== undefined)
    throw new HostToolsError(missingToolsLine(missing, why));

  const started = Date.now();
  await apt(["update", "-qq"], env);
  const packages: string[] = [];
  for (const command of missing) {
    const candidates = installCandidates(command);
    if (candidates.length === 0) throw new HostToolsError(missingToolsLine([command]));
    const chosen = (await firstAvailable(candidates, env)) ?? candidates[candidates.length - 1] ?? "";
    if (!packages.includes(chosen)) packages.push(chosen);
  }
  log(`host-tools: installing ${packages.join(" ")} for ${missing.join(", ")} (apt-get)`);
  await apt(["install", "-y", "-qq", "--no-install-recommends", ...packages], env);
  const still = await missingCommands(missing, env);
  if (still.length > 0)
    throw new HostToolsError(
      missingToolsLine(still, `still missing after apt-get install ${packages.join(" ")}`),
    );
  log(`host-tools: installed ${packages.join(" ")} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return packages;
}

/** The first package apt has an installation candidate for (docker-cli exists from trixie on). */
async function firstAvailable(
  packages: readonly string[],
  env: NodeJS.ProcessEnv,
): Promise<string | undefined> {
  for (const name of packages) {
    const policy = await execa("apt-cache", ["policy", name], { env, reject: false });
    const candidate = /^\s*Candidate:\s*(\S+)/m.exec(policy.stdout)?.[1];
    if (policy.exitCode === 0 && candidate !== undefined && candidate !== "(none)") return name;
  }
  return undefined;
}

async function apt(args: readonly string[], env: NodeJS.ProcessEnv): Promise<void> {
  // Another run on this machine may hold dpkg's lock: wait for it rather than fail at once.
  const result = await execa("apt-get", ["-o", "DPkg::Lock::Timeout=300", ...args], {
    env: { ...env, DEBIAN_FRONTEND: "noninteractive" },
    reject: false,
    all: true,
  });
  if (result.exitCode !== 0) {
    const tail = (result.all ?? "").trim().split("\n").slice(-5).join(" | ");
    const status =
      result.exitCode === undefined
        ? `did not run: ${String(result.cause ?? result.signal)}`
        : `exit ${result.exitCode}`;
    throw new HostToolsError(`apt-get ${args.join(" ")} failed (${status}): ${tail}`);
  }
}
