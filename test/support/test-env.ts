/**
 * Prepares the machine for integration tests: the host tools they run (installed as root on
 * Debian/Ubuntu, else one line naming the package: host-tools.ts), a Docker engine
 * (scripts/ensure-docker.sh) and the locally built test images (no registry is reachable, so
 * everything starts from a debootstrapped Debian base).
 *
 * Builds are idempotent: each image carries a label with a sha256 of its build inputs (the build
 * context's files plus the base image id; for the base, the debootstrap parameters). An image whose
 * label matches is not touched, so a warm run costs a few `docker image inspect` calls. A lock
 * serialises concurrent callers (several engineers' test runs share one engine).
 */
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readdir, readFile, rm, rmdir, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { missingToolMessage } from "../../src/exec/host-tools.js";
import { dockerAvailable } from "./docker.js";
import { ensureHostTools } from "./host-tools.js";
import { baseImage, BUILT_IMAGES, builtName, isOverridden } from "./images.js";

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
/** Image label holding the sha256 of the inputs the image was built from. */
export const BUILD_KEY_LABEL = "backdrill.build-key";

const DEBIAN_SUITE = "trixie";
const DEBIAN_VARIANT = "minbase";
const DEBIAN_MIRROR = process.env.BACKDRILL_TEST_DEBIAN_MIRROR ?? "http://deb.debian.org/debian";
const LOCK_DIR = path.join(tmpdir(), "backdrill-test-env.lock");
const LOCK_WAIT_MS = 30 * 60_000;

/**
 * Host commands the unit, integration and fault tests run besides docker: rsync/ssh for files
 * jobs, ssh-keygen for the sshd containers, age for the interoperability tests.
 */
export const TEST_HOST_TOOLS: readonly string[] = ["rsync", "ssh", "ssh-keygen", "age", "age-keygen"];

export interface ImageResult {
  image: string;
  action: "built" | "up-to-date" | "overridden";
  seconds: number;
}

export interface TestEnvOptions {
  /** Progress lines (one per image); default: stderr. */
  log?: (line: string) => void;
  /** Stream docker build / debootstrap output to stderr instead of keeping it for errors. */
  verbose?: boolean;
  /**
   * Rebuild even when the inputs are unchanged: the key cannot see new packages on the Debian
   * mirror (point releases, security updates), so refreshing them is an explicit choice.
   */
  rebuild?: boolean;
  /** Host commands the caller runs besides docker (default TEST_HOST_TOOLS). */
  tools?: readonly string[];
}

export class TestEnvError extends Error {
  override name = "TestEnvError";
}

/** Engine plus images; returns one result per image, in build order. */
export async function prepareTestEnv(options: TestEnvOptions = {}): Promise<ImageResult[]> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  // Every tool first, in one apt-get run when we may install: a missing rsync must not surface
  // only after minutes of image builds (debootstrap is added once we know the base is needed).
  await ensureHostTools(["docker", ...(options.tools ?? TEST_HOST_TOOLS)], { log });
  await ensureEngine(log);
  return withLock(log, async () => {
    const results: ImageResult[] = [];
    const report = (result: ImageResult): void => {
      results.push(result);
      log(`test-env: ${result.image}: ${result.action} (${result.seconds.toFixed(1)}s)`);
    };
    const needed = BUILT_IMAGES.filter((spec) => !isOverridden(spec.kind));
    for (const spec of BUILT_IMAGES) {
      if (isOverridden(spec.kind))
        report({ image: process.env[spec.envVar] ?? "", action: "overridden", seconds: 0 });
    }
    if (needed.length === 0) return results;
    report(await ensureBaseImage(options, log));
    const baseId = await imageId(baseImage());
    // Two at a time: the builds are mostly apt downloads and dpkg unpacking, and these machines
    // have two cores; more in parallel only makes each slower.
    await mapLimit(needed, 2, async (spec) =>
      report(await ensureImageOnBase(builtName(spec.defaultName), spec.contextDir, baseId, options)),
    );
    return results;
  });
}

/**
 * One more image built FROM the base (the quick-start test's Node host), built and keyed like the
 * service images, under the same lock; the engine and the base are ensured first.
 */
export async function prepareImageOnBase(
  image: string,
  contextDir: string,
  options: TestEnvOptions = {},
): Promise<ImageResult> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  await ensureHostTools(["docker"], { log });
  await ensureEngine(log);
  const baseId = await withLock(log, async () => {
    await ensureBaseImage(options, log);
    return imageId(baseImage());
  });
  // A lock of its own: this build takes minutes, and other runs waiting on the shared lock for
  // the service images must not wait for it.
  const lockDir = `${LOCK_DIR}-${image.replace(/[^a-z0-9.-]/gi, "_")}`;
  return withLock(
    log,
    async () => {
      const built = await ensureImageOnBase(image, contextDir, baseId, options);
      log(`test-env: ${built.image}: ${built.action} (${built.seconds.toFixed(1)}s)`);
      return built;
    },
    lockDir,
  );
}

/**
 * Runs scripts/ensure-docker.sh unless the engine already answers. Its lines go to `log`; its last
 * line (the one-line reason) becomes the error.
 */
export async function ensureEngine(
  log: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
): Promise<void> {
  if (await dockerAvailable()) return;
  const script = path.join(REPO_ROOT, "scripts/ensure-docker.sh");
  // Line by line as they come: installing docker.io and waiting for dockerd take a while.
  const lines: string[] = [];
  const child = execa("bash", [script], { reject: false, stdout: "ignore", stderr: "pipe" });
  for await (const line of child.iterable({ from: "stderr" })) {
    if (line.trim() === "") continue;
    lines.push(line);
    log(line);
  }
  const result = await child;
  if (result.exitCode !== 0 || !(await dockerAvailable())) {
    const reason = (lines.at(-1) ?? `exit ${String(result.exitCode)}`).replace(
      /^(ensure-docker|host-tools): (ERROR: )?/,
      "",
    );
    throw new TestEnvError(`no Docker engine: ${reason}`);
  }
}

async function ensureBaseImage(options: TestEnvOptions, log: (line: string) => void): Promise<ImageResult> {
  const started = Date.now();
  const image = baseImage();
  const key = sha256(["debootstrap", DEBIAN_SUITE, DEBIAN_VARIANT, DEBIAN_MIRROR].join("\0"));
  if (!options.rebuild && (await imageBuildKey(image)) === key) {
    return result(image, "up-to-date", started);
  }
  // The tool first: without it, being root would not help either.
  await ensureHostTools(["debootstrap"], { log });
  if (process.getuid?.() !== 0) {
    throw new TestEnvError(
      `building ${image} runs debootstrap, which needs root: run \`npm run test:env\` as root`,
    );
  }
  const work = await mkdtemp(path.join(tmpdir(), "backdrill-debootstrap-"));
  const root = path.join(work, "root");
  try {
    await run(
      "debootstrap",
      [`--variant=${DEBIAN_VARIANT}`, DEBIAN_SUITE, root, DEBIAN_MIRROR],
      options,
      `debootstrap ${DEBIAN_SUITE}`,
    );
    // A shell pipeline streams the tree into the engine; piping through Node would buffer it.
    const importScript =
      'tar -C "$1" --numeric-owner -c . | docker import --change "LABEL $2" --change "ENV LANG=C.UTF-8" ' +
      '--change \'CMD ["/bin/bash"]\' - "$3"';
    await run(
      "bash",
      ["-o", "pipefail", "-c", importScript, "import", root, `${BUILD_KEY_LABEL}=${key}`, image],
      options,
      `docker import of ${image}`,
    );
  } finally {
    await removeTree(root);
    await rm(work, { recursive: true, force: true });
  }
  return result(image, "built", started);
}

async function ensureImageOnBase(
  image: string,
  contextDir: string,
  baseId: string,
  options: TestEnvOptions,
): Promise<ImageResult> {
  const started = Date.now();
  const context = path.join(REPO_ROOT, contextDir);
  const key = sha256(`${await hashDirectory(context)}\0${baseId}`);
  if (!options.rebuild && (await imageBuildKey(image)) === key) {
    return result(image, "up-to-date", started);
  }
  await run(
    "docker",
    [
      "build",
      "--pull=false",
      "--build-arg",
      `BASE_IMAGE=${baseImage()}`,
      "--label",
      `${BUILD_KEY_LABEL}=${key}`,
      "-t",
      image,
      context,
    ],
    options,
    `docker build of ${image}`,
  );
  return result(image, "built", started);
}

/** sha256 over every file's relative path, mode and content, in a stable order. */
export async function hashDirectory(dir: string): Promise<string> {
  const hash = createHash("sha256");
  const walk = async (relative: string): Promise<void> => {
    const entries = await readdir(path.join(dir, relative), { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      const rel = path.posix.join(relative, entry.name);
      const full = path.join(dir, rel);
      if (entry.isDirectory()) {
        await walk(rel);
      } else if (entry.isFile()) {
        // The executable bit matters to the image (COPY keeps it), so it is part of the key.
        const mode = (await stat(full)).mode & 0o111 ? "x" : "-";
        hash.update(`${rel}\0${mode}\0`);
        hash.update(await readFile(full));
        hash.update("\0");
      }
    }
  };
  await walk("");
  return hash.digest("hex");
}

async function imageBuildKey(image: string): Promise<string | undefined> {
  const inspected = await execa(
    "docker",
    ["image", "inspect", "--format", `{{ index .Config.Labels "${BUILD_KEY_LABEL}" }}`, image],
    { reject: false },
  );
  return inspected.exitCode === 0 ? inspected.stdout.trim() : undefined;
}

async function imageId(image: string): Promise<string> {
  const { stdout } = await execa("docker", ["image", "inspect", "--format", "{{.Id}}", image]);
  return stdout.trim();
}

/** Runs a build step; its output goes to stderr when verbose, else only into the error. */
async function run(file: string, args: string[], options: TestEnvOptions, what: string): Promise<void> {
  const child = await execa(file, args, {
    reject: false,
    all: true,
    env: { DOCKER_BUILDKIT: "0" },
    ...(options.verbose ? { stdout: ["pipe", "inherit"], stderr: ["pipe", "inherit"] } : {}),
  });
  if (child.exitCode === undefined) {
    // Never ran: name the command and its package, not "exit undefined".
    const code = (child.cause as NodeJS.ErrnoException | undefined)?.code;
    throw new TestEnvError(
      code === "ENOENT"
        ? missingToolMessage(file)
        : `${what} failed to start: ${String(child.cause ?? child.signal)}`,
    );
  }
  if (child.exitCode !== 0) {
    const tail = (child.all ?? "").split("\n").slice(-40).join("\n");
    throw new TestEnvError(`${what} failed (exit ${child.exitCode}):\n${tail}`);
  }
}

/**
 * Removes a debootstrap tree. debootstrap mounts /proc and /sys inside it while it works and a
 * failed run can leave them mounted: unmount first so a recursive delete never walks into them.
 */
async function removeTree(root: string): Promise<void> {
  const mounts = await readFile("/proc/mounts", "utf8").catch(() => "");
  const inside = mounts
    .split("\n")
    .map((line) => line.split(" ")[1] ?? "")
    .filter((mountPoint) => mountPoint === root || mountPoint.startsWith(`${root}/`))
    .sort((a, b) => b.length - a.length);
  for (const mountPoint of inside) {
    await execa("umount", ["-l", mountPoint], { reject: false });
  }
  const stillMounted = (await readFile("/proc/mounts", "utf8").catch(() => "")).includes(` ${root}/`);
  if (stillMounted) throw new TestEnvError(`refusing to delete ${root}: something is still mounted inside`);
  await rm(root, { recursive: true, force: true });
}

/**
 * Cross-process lock (mkdir is atomic): two test runs on one engine must not debootstrap or build
 * the same image at once. A lock whose owner process is gone is taken over.
 */
async function withLock<T>(
  log: (line: string) => void,
  body: () => Promise<T>,
  lockDir = LOCK_DIR,
): Promise<T> {
  const deadline = Date.now() + LOCK_WAIT_MS;
  let announced = false;
  for (;;) {
    try {
      await mkdir(lockDir);
      await writeFile(path.join(lockDir, "pid"), String(process.pid));
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      const owner = Number.parseInt(await readFile(path.join(lockDir, "pid"), "utf8").catch(() => ""), 10);
      // No pid yet: the owner is between mkdir and writeFile, or died there; give it a minute.
      const orphaned = !Number.isFinite(owner) && (await lockAgeMs(lockDir)) > 60_000;
      if (orphaned || (Number.isFinite(owner) && !processAlive(owner))) {
        await rm(lockDir, { recursive: true, force: true });
        continue;
      }
      if (Date.now() > deadline) throw new TestEnvError(`timed out waiting for ${lockDir} (pid ${owner})`);
      if (!announced) log(`test-env: waiting for another image build (pid ${owner}) to finish`);
      announced = true;
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
  try {
    return await body();
  } finally {
    await rm(path.join(lockDir, "pid"), { force: true });
    await rmdir(lockDir).catch(() => undefined);
  }
}

async function lockAgeMs(lockDir: string): Promise<number> {
  const info = await stat(lockDir).catch(() => undefined);
  return info === undefined ? 0 : Date.now() - info.mtimeMs;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

async function mapLimit<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  const queue = [...items];
  const worker = async (): Promise<void> => {
    for (let item = queue.shift(); item !== undefined; item = queue.shift()) await fn(item);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

function result(image: string, action: ImageResult["action"], started: number): ImageResult {
  return { image, action, seconds: (Date.now() - started) / 1000 };
}
