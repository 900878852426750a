/** The shared building blocks of the facts schemas and the facts-against-manifest checks. */
import { describe, expect, it } from "vitest";
import type { ArtifactReader } from "./contract.js";
import {
  artifactNameSchema,
  containedPathSchema,
  isContainedPath,
  plainText,
  printable,
  requireArtifacts,
} from "./facts-values.js";
import { dbConninfo, literalPattern, pgDatabaseNameProblem, pgNameProblem } from "./postgres/names.js";

const reader = (names: string[]): ArtifactReader =>
  ({
    snapshot: { job: "task-db", id: "20261128T021500Z-3f9a1c", artifacts: names.map((name) => ({ name })) },
  }) as unknown as ArtifactReader;

describe("facts building blocks", () => {
  it("artifact names are one safe path component", () => {
    expect(artifactNameSchema.safeParse("task.dump").success).toBe(true);
    for (const bad of ["../x", "a/b", ".hidden", "", "x y"])
      expect(artifactNameSchema.safeParse(bad).success).toBe(false);
  });

  it("contained paths never leave the tree", () => {
    expect(isContainedPath("uploads/a b/ü.txt")).toBe(true);
    for (const bad of ["/etc/passwd", "a/../../b", "..", "a//b", "./a", "a\0b", ""])
      expect(isContainedPath(bad)).toBe(false);
    expect(containedPathSchema.safeParse("a/../b").success).toBe(false);
  });

  it("plain text has no control characters, and printable shows them", () => {
    expect(plainText(10).safeParse("17.12").success).toBe(true);
    expect(plainText(10).safeParse("a\nb").success).toBe(false);
    expect(printable("a\u001b[2Jb\nc")).toBe("a\\u001b[2Jb\\u000ac");
  });

  it("requireArtifacts names the field of an artifact the manifest does not list", () => {
    expect(() =>
      requireArtifacts(reader(["task.dump"]), [{ name: "task.dump", field: "databases.0.artifact" }]),
    ).not.toThrow();
    expect(() =>
      requireArtifacts(reader(["task.dump"]), [{ name: "other.dump", field: "databases.0.artifact" }]),
    ).toThrow(
      'snapshot task-db/20261128T021500Z-3f9a1c: its facts name artifact "other.dump" (databases.0.artifact), which the manifest does not list; refusing to use it',
    );
  });
});

describe("PostgreSQL names", () => {
  it("accepts real names, spaces and quotes included", () => {
    for (const name of ["task", "Q3 reports", 'we"ird', "ümlaut", "a".repeat(63)]) {
      expect(pgDatabaseNameProblem(name)).toBeUndefined();
    }
  });

  it("refuses what libpq would read as a connection string, options, and implausible identifiers", () => {
    expect(pgDatabaseNameProblem("host=evil port=5432")).toMatch(/connection string/);
    expect(pgDatabaseNameProblem("postgresql://evil/x")).toMatch(/connection string/);
    expect(pgDatabaseNameProblem("-c")).toMatch(/starts with '-'/);
    expect(pgNameProblem("a".repeat(64))).toMatch(/longer than 63 bytes/);
    expect(pgNameProblem("ü".repeat(32))).toMatch(/longer than 63 bytes/);
    expect(pgNameProblem("a\nb")).toMatch(/control characters/);
    expect(pgNameProblem("")).toBe("is empty");
  });

  it("quotes a name into a conninfo and a literal pattern", () => {
    expect(dbConninfo("task")).toBe("dbname='task'");
    expect(dbConninfo("it's a\\b")).toBe("dbname='it\\'s a\\\\b'");
    expect(dbConninfo("host=evil port=1")).toBe("dbname='host=evil port=1'");
    expect(literalPattern('a*"b')).toBe('"a*""b"');
  });
});
