/**
 * The development scripts' side of host tools (test/support/host-tools.ts) and the image-name
 * prefix the quick-start test uses to see "nothing built yet" without touching shared images.
 */
import { chmod, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ensureHostTools,
  HostToolsError,
  missingCommands,
  missingToolsLine,
  whichCommand,
} from "../support/host-tools.js";
import { baseImage, builtName, imageName, IMAGE_PREFIX_ENV } from "../support/images.js";

let dir: string;
let bin: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "backdrill-host-tools-"));
  bin = path.join(dir, "bin");
  await mkdir(bin);
  await writeFile(path.join(bin, "rsync"), "#!/bin/sh\n", { mode: 0o755 });
  // Present but not executable: not a usable command.
  await writeFile(path.join(bin, "ssh"), "#!/bin/sh\n");
  await chmod(path.join(bin, "ssh"), 0o644);
  await mkdir(path.join(bin, "age"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("finding commands", () => {
  it("resolves through PATH, skipping non-executables and directories", async () => {
    const env = { PATH: `${path.join(dir, "nowhere")}:${bin}` };
    expect(await whichCommand("rsync", env)).toBe(path.join(bin, "rsync"));
    expect(await whichCommand("ssh", env)).toBeUndefined();
    expect(await whichCommand("age", env)).toBeUndefined();
    expect(await missingCommands(["rsync", "ssh", "age", "ssh"], env)).toEqual(["ssh", "age"]);
  });

  it("takes a path as it is", async () => {
    expect(await whichCommand(path.join(bin, "rsync"), { PATH: "" })).toBe(path.join(bin, "rsync"));
    expect(await whichCommand(path.join(bin, "ssh"), { PATH: bin })).toBeUndefined();
  });
});

describe("the one line", () => {
  it("for one command is the product's message", () => {
    expect(missingToolsLine(["debootstrap"])).toBe(
      "debootstrap not found: install the Debian package debootstrap (apt-get install debootstrap)",
    );
    expect(missingToolsLine(["debootstrap"], "not root, so not installed automatically")).toBe(
      "debootstrap not found: install the Debian package debootstrap (apt-get install debootstrap) " +
        "(not root, so not installed automatically)",
    );
  });

  it("for several names each command and one apt-get line without repeats", () => {
    expect(missingToolsLine(["rsync", "ssh", "ssh-keygen", "docker"])).toBe(
      "rsync, ssh, ssh-keygen, docker not found: install the Debian packages rsync, openssh-client, docker.io " +
        "(apt-get install rsync openssh-client docker.io)",
    );
  });
});

describe("ensureHostTools", () => {
  it("does nothing when everything is there", async () => {
    expect(await ensureHostTools(["rsync"], { env: { PATH: bin } })).toEqual([]);
  });

  it("with checkOnly never installs: it throws the one line", async () => {
    const attempt = ensureHostTools(["rsync", "debootstrap"], { env: { PATH: bin }, checkOnly: true });
    await expect(attempt).rejects.toThrow(HostToolsError);
    await expect(attempt).rejects.toThrow(
      /^debootstrap not found: install the Debian package debootstrap \(apt-get install debootstrap\)$/,
    );
  });
});

describe("image names under BACKDRILL_TEST_IMAGE_PREFIX", () => {
  it("keeps the shared names by default", () => {
    expect(baseImage({})).toBe("backdrill-test/debian:trixie");
    expect(imageName("s3", {})).toBe("backdrill-test/s3:latest");
  });

  it("renames the base and every built service image, never an overridden one", () => {
    const env = { [IMAGE_PREFIX_ENV]: "qs-1a2b/" };
    expect(baseImage(env)).toBe("qs-1a2b/debian:trixie");
    expect(imageName("postgres", env)).toBe("qs-1a2b/postgres:17");
    expect(imageName("postgres", { ...env, BACKDRILL_TEST_POSTGRES_IMAGE: "pgvector/pgvector:pg17" })).toBe(
      "pgvector/pgvector:pg17",
    );
  });

  it("rejects a prefix that is not a repository name", () => {
    expect(() => builtName("backdrill-test/s3:latest", { [IMAGE_PREFIX_ENV]: "Bad Prefix" })).toThrow(
      /BACKDRILL_TEST_IMAGE_PREFIX=Bad Prefix: expected a lower-case repository name ending in \//,
    );
  });
});
