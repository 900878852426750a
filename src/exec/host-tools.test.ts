import { describe, expect, it } from "vitest";
import { HOST_TOOLS, installCandidates, missingToolMessage, packageFor } from "./host-tools.js";

describe("host tools: command -> Debian package", () => {
  it.each([
    ["docker", "docker.io"],
    ["dockerd", "docker.io"],
    ["debootstrap", "debootstrap"],
    ["rsync", "rsync"],
    ["ssh", "openssh-client"],
    ["ssh-keygen", "openssh-client"],
    ["age", "age"],
    ["age-keygen", "age"],
    ["restic", "restic"],
    ["mkfifo", "coreutils"],
    ["pg_dump", "postgresql-client"],
    ["/usr/bin/rsync", "rsync"],
  ])("%s is in %s", (command, pkg) => {
    expect(packageFor(command)).toBe(pkg);
  });

  it("names the PostgreSQL major of a binDir tool, whose unversioned package installs another major", () => {
    expect(packageFor("/usr/lib/postgresql/17/bin/pg_dump")).toBe("postgresql-client-17");
    expect(packageFor("/usr/lib/postgresql/16/bin/pg_restore")).toBe("postgresql-client-16");
    expect(packageFor("/opt/pg/bin/psql")).toBe("postgresql-client");
  });

  it("knows nothing it was not told", () => {
    expect(packageFor("no-such-tool")).toBeUndefined();
    expect(installCandidates("no-such-tool")).toEqual([]);
  });

  it("installs docker from docker-cli where that exists (trixie on), else docker.io (bookworm)", () => {
    expect(installCandidates("docker")).toEqual(["docker-cli", "docker.io"]);
    expect(installCandidates("dockerd")).toEqual(["docker.io"]);
    expect(installCandidates("ssh-keygen")).toEqual(["openssh-client"]);
    expect(installCandidates("/usr/lib/postgresql/17/bin/pg_dump")).toEqual(["postgresql-client-17"]);
  });

  it("every installer candidate list contains the package the messages name", () => {
    for (const [command, tool] of Object.entries(HOST_TOOLS)) {
      expect(installCandidates(command), command).toContain(tool.package);
    }
  });
});

describe("missingToolMessage", () => {
  it("is the one line an operator acts on", () => {
    expect(missingToolMessage("rsync")).toBe(
      "rsync not found: install the Debian package rsync (apt-get install rsync)",
    );
    expect(missingToolMessage("ssh-keygen")).toBe(
      "ssh-keygen not found: install the Debian package openssh-client (apt-get install openssh-client)",
    );
    expect(missingToolMessage("/usr/lib/postgresql/17/bin/pg_dump")).toBe(
      "/usr/lib/postgresql/17/bin/pg_dump not found: install the Debian package postgresql-client-17 " +
        "(apt-get install postgresql-client-17)",
    );
  });

  it("says what it can for a command it has no package for", () => {
    expect(missingToolMessage("frobnicate")).toBe("frobnicate not found on PATH: install it, or fix PATH");
    expect(missingToolMessage("/opt/x/frobnicate")).toBe(
      "/opt/x/frobnicate not found: install it, or fix the path",
    );
  });
});
