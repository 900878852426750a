/**
 * The benchmark image with pgBackRest beside PostgreSQL 17 (docker/bench-pgbackrest): pgBackRest
 * must run where the data directory is (backup, restore) and inside the server's container
 * (archive-push / archive-get from archive_command / restore_command), so it goes into an image
 * derived from the PostgreSQL test image rather than onto the bench host.
 *
 * Built on demand, rebuilt when the Dockerfile or the PostgreSQL image changes (a label carries
 * a digest of both). apt inside the build reaches Debian's mirrors; no registry is needed.
 */
import { createHash } from "node:crypto";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { postgresImage } from "../test/support/images.js";

export const PGBACKREST_IMAGE = "backdrill-bench/postgres-pgbackrest:17";
const KEY_LABEL = "backdrill.bench.key";
const contextDir = join(dirname(dirname(fileURLToPath(import.meta.url))), "docker", "bench-pgbackrest");

function inspect(image: string, format: string): string | undefined {
  try {
    return execFileSync("docker", ["image", "inspect", "--format", format, image], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    }).trim();
  } catch {
    return undefined;
  }
}

/** Returns the image name, building it first when missing or stale. */
export function ensurePgbackrestImage(log: (line: string) => void = console.log): string {
  const base = postgresImage();
  const baseId = inspect(base, "{{.Id}}");
  if (baseId === undefined) {
    throw new Error(`${base} is missing: run \`npm run test:env\` first (it builds the test images)`);
  }
  const key = createHash("sha256")
    .update(readFileSync(join(contextDir, "Dockerfile")))
    .update(baseId)
    .digest("hex");
  if (inspect(PGBACKREST_IMAGE, `{{ index .Config.Labels "${KEY_LABEL}" }}`) === key) return PGBACKREST_IMAGE;
  log(`building ${PGBACKREST_IMAGE} (apt-get install pgbackrest on ${base})…`);
  execFileSync(
    "docker",
    [
      "build",
      "--pull=false",
      "--build-arg",
      `POSTGRES_IMAGE=${base}`,
      "--label",
      `${KEY_LABEL}=${key}`,
      "-t",
      PGBACKREST_IMAGE,
      contextDir,
    ],
    { stdio: ["ignore", "inherit", "inherit"] },
  );
  return PGBACKREST_IMAGE;
}
