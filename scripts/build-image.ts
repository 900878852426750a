/**
 * `npm run image -- [--tag NAME] [--base IMAGE]`: builds backdrill's container image
 * (docker/backdrill/Dockerfile; README, "Run in a container / on Kubernetes").
 *
 * npm never runs inside `docker build`: an egress proxy's CA that the host trusts is unknown
 * inside the build, and the image must not depend on a registry anyway. The application is put
 * together here, in a private temp dir that becomes the build context:
 *
 *   app/package.json            name and version (the CLI's --version; the native addon's root)
 *   app/dist/bin.cjs            the entry: sizes libuv's pool, then imports run.js (cli/bin.cts)
 *   app/dist/run.js             the CLI bundled by esbuild, npm packages left external
 *   app/node_modules/           the production packages, copied from this checkout's node_modules
 *                               by package-lock.json (its `dev` flags), so no network is needed
 *   app/build/native/           the native age addon built by `npm ci` on this host
 *
 * An image whose build-key label matches the context (and base) is not rebuilt.
 */
import { createHash } from "node:crypto";
import { chmod, copyFile, cp, mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { execa } from "execa";
import { BUILD_KEY_LABEL, hashDirectory, REPO_ROOT } from "../test/support/test-env.js";

export interface BuildImageOptions {
  /** Image name and tag to build. */
  tag: string;
  /** The Debian trixie image to build FROM (the Dockerfile's BASE_IMAGE). */
  base: string;
  /** Rebuild even when the inputs are unchanged. */
  rebuild?: boolean;
  log?: (line: string) => void;
}

export interface BuiltImage {
  image: string;
  action: "built" | "up-to-date";
  seconds: number;
}

interface LockPackage {
  dev?: boolean;
  devOptional?: boolean;
}

/** package-lock.json's installed paths (`node_modules/a`, `node_modules/a/node_modules/b`) of production packages. */
export function productionPackagePaths(lock: { packages?: Record<string, LockPackage> }): string[] {
  return Object.entries(lock.packages ?? {})
    .filter(([key, entry]) => key.startsWith("node_modules/") && entry.dev !== true)
    .filter(([, entry]) => entry.devOptional !== true)
    .map(([key]) => key)
    .sort();
}

async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch {
    return false;
  }
}

/** Copies the production packages without their nested node_modules (those are entries of their own). */
async function copyProductionModules(root: string, app: string): Promise<number> {
  const lock = JSON.parse(await readFile(path.join(root, "package-lock.json"), "utf8")) as {
    packages?: Record<string, LockPackage>;
  };
  let copied = 0;
  for (const key of productionPackagePaths(lock)) {
    const source = path.join(root, key);
    // Optional packages for other platforms are in the lock but not on disk.
    if (!(await exists(source))) continue;
    await cp(source, path.join(app, key), {
      recursive: true,
      dereference: true,
      filter: (file) => !path.relative(source, file).split(path.sep).includes("node_modules"),
    });
    copied++;
  }
  return copied;
}

async function esbuild(root: string, args: string[]): Promise<void> {
  await execa(path.join(root, "node_modules/.bin/esbuild"), [...args, "--log-level=warning"], {
    cwd: root,
  });
}

/** Writes the build context (Dockerfile + app/) into `dir`. */
export async function prepareImageContext(dir: string, root: string = REPO_ROOT): Promise<void> {
  const app = path.join(dir, "app");
  const addon = path.join(root, "build/native/age_stream.node");
  if (!(await exists(addon))) {
    throw new Error(`${addon} is missing: run npm run build:native first`);
  }
  await copyFile(path.join(root, "docker/backdrill/Dockerfile"), path.join(dir, "Dockerfile"));
  const pkg = JSON.parse(await readFile(path.join(root, "package.json"), "utf8")) as {
    name: string;
    version: string;
    license?: string;
  };
  await mkdir(path.join(app, "dist"), { recursive: true });
  await writeFile(
    path.join(app, "package.json"),
    `${JSON.stringify({ name: pkg.name, version: pkg.version, license: pkg.license, type: "module", private: true }, null, 2)}\n`,
  );
  const common = ["--bundle", "--platform=node", "--target=node20"];
  await esbuild(root, [
    "src/cli/run.ts",
    ...common,
    "--format=esm",
    "--packages=external",
    `--outfile=${path.join(app, "dist/run.js")}`,
  ]);
  // The entry stays CommonJS and imports run.js at run time, as bin.cts does (threadpool.cts).
  await esbuild(root, [
    "src/cli/bin.cts",
    ...common,
    "--format=cjs",
    "--external:./run.js",
    `--outfile=${path.join(app, "dist/bin.cjs")}`,
  ]);
  await chmod(path.join(app, "dist/bin.cjs"), 0o755);
  await mkdir(path.join(app, "build/native"), { recursive: true });
  await copyFile(addon, path.join(app, "build/native/age_stream.node"));
  await copyProductionModules(root, app);
}

async function imageLabel(image: string): Promise<string | undefined> {
  const result = await execa(
    "docker",
    ["image", "inspect", "--format", `{{ index .Config.Labels "${BUILD_KEY_LABEL}" }}`, image],
    { reject: false },
  );
  return result.exitCode === 0 ? result.stdout.trim() : undefined;
}

async function imageId(image: string): Promise<string> {
  const result = await execa("docker", ["image", "inspect", "--format", "{{.Id}}", image], {
    reject: false,
  });
  if (result.exitCode !== 0) {
    throw new Error(
      `base image ${image} is not on this engine: build it with npm run test:env, or pass --base debian:trixie where a registry is reachable`,
    );
  }
  return result.stdout.trim();
}

/** Prepares the context and runs docker build, unless an image of the same inputs exists. */
export async function buildImage(options: BuildImageOptions): Promise<BuiltImage> {
  const started = Date.now();
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const baseId = await imageId(options.base);
  const dir = await mkdtemp(path.join(tmpdir(), "backdrill-image-"));
  try {
    await prepareImageContext(dir);
    const key = createHash("sha256")
      .update(`${await hashDirectory(dir)}\0${baseId}`)
      .digest("hex");
    const seconds = () => (Date.now() - started) / 1000;
    if (options.rebuild !== true && (await imageLabel(options.tag)) === key) {
      return { image: options.tag, action: "up-to-date", seconds: seconds() };
    }
    log(`build-image: docker build of ${options.tag} on ${options.base}`);
    await execa(
      "docker",
      [
        "build",
        "--pull=false",
        "--build-arg",
        `BASE_IMAGE=${options.base}`,
        "--label",
        `${BUILD_KEY_LABEL}=${key}`,
        "-t",
        options.tag,
        dir,
      ],
      { all: true },
    );
    return { image: options.tag, action: "built", seconds: seconds() };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function cli(): Promise<void> {
  const { values } = parseArgs({
    options: {
      tag: { type: "string" },
      base: { type: "string", default: "backdrill-test/debian:trixie" },
      rebuild: { type: "boolean", default: false },
    },
  });
  const pkg = JSON.parse(await readFile(path.join(REPO_ROOT, "package.json"), "utf8")) as { version: string };
  const built = await buildImage({
    tag: values.tag ?? `backdrill:${pkg.version}`,
    base: values.base,
    rebuild: values.rebuild,
  });
  console.log(`build-image: ${built.image}: ${built.action} (${built.seconds.toFixed(1)}s)`);
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === path.resolve(import.meta.filename)) {
  try {
    await cli();
  } catch (error) {
    // The message only: execa errors carry the whole build output.
    const output = (error as { all?: unknown }).all;
    if (typeof output === "string") process.stderr.write(`${output.slice(-4000)}\n`);
    console.error(`build-image: ${error instanceof Error ? error.message.split("\n")[0] : String(error)}`);
    process.exitCode = 1;
  }
}
