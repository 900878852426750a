/**
 * backdrill's own container image (docker/backdrill/, scripts/build-image.ts) runs the CLI: the
 * version, `validate` of the example config directory mounted read-only under a read-only root
 * file system (as the Kubernetes manifests run it), a broken config's exit 2, and the native age
 * addon loading on the image's Node. The image is built in beforeAll (minutes on a cold cache,
 * a few seconds when its inputs are unchanged), not by test-env.
 */
import { chmod, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildImage } from "../../scripts/build-image.js";
import { VERSION } from "../../src/version.js";
import { baseImage, builtName } from "../support/images.js";
import { REPO_ROOT } from "../support/test-env.js";

const IMAGE = builtName("backdrill-test/backdrill:latest");
let badConfig: string;

/** `docker run` as the manifests do: read-only root, /tmp scratch, no network. */
function run(args: string[], mounts: string[] = []) {
  return execa(
    "docker",
    ["run", "--rm", "--read-only", "--tmpfs", "/tmp", "--network", "none", ...mounts, IMAGE, ...args],
    { reject: false },
  );
}

beforeAll(async () => {
  await buildImage({ tag: IMAGE, base: baseImage(), log: () => undefined });
  // The image's user (uid 10001) reads the mounted config: a world-readable copy, no secrets in it.
  badConfig = await mkdtemp(path.join(tmpdir(), "backdrill-image-config-"));
  await mkdir(path.join(badConfig, "policies"));
  await writeFile(
    path.join(badConfig, "policies", "broken.yaml"),
    "name: broken\nrepository: { type: ftp }\n",
  );
  await chmod(badConfig, 0o755);
  await chmod(path.join(badConfig, "policies"), 0o755);
  await chmod(path.join(badConfig, "policies", "broken.yaml"), 0o644);
}, 900_000);

afterAll(async () => {
  await rm(badConfig, { recursive: true, force: true });
});

describe("the backdrill container image", () => {
  it("prints its version as a non-root user", async () => {
    const version = await run(["--version"]);
    expect(version.exitCode).toBe(0);
    expect(version.stdout.trim()).toBe(VERSION);
    const user = await execa("docker", ["image", "inspect", "--format", "{{.Config.User}}", IMAGE]);
    expect(user.stdout.trim()).toBe("10001:10001");
  });

  it("validates the example config directory mounted read-only (exit 0)", async () => {
    const mounts = ["policies", "jobs", "drills"].flatMap((section) => [
      "-v",
      `${path.join(REPO_ROOT, section)}:/etc/backdrill/config/${section}:ro`,
    ]);
    const result = await run(["validate"], mounts);
    expect(result.stderr).not.toMatch(/error/i);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain("config: /etc/backdrill/config");
    expect(result.stdout).toContain("task-wal  postgres-base");
  });

  it("exits 2 naming the file of a broken config", async () => {
    const result = await run(["validate"], ["-v", `${badConfig}:/etc/backdrill/config:ro`]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain("policies/broken.yaml");
  });

  it("loads the native age addon built on the host", async () => {
    const result = await execa(
      "docker",
      [
        "run",
        "--rm",
        "--network",
        "none",
        "--entrypoint",
        "node",
        IMAGE,
        "-e",
        'require("/opt/backdrill/build/native/age_stream.node"); console.log("addon ok")',
      ],
      { reject: false },
    );
    expect(result.stderr).toBe("");
    expect(result.stdout.trim()).toBe("addon ok");
  });
});
