/**
 * docker-compose.test.yml and the Testcontainers classes must run the same images, or a bug seen
 * by hand in the Compose stack would not reproduce in the tests (and the reverse).
 */
import { readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { SERVICE_IMAGES, type ServiceImageKind } from "../support/images.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

interface ComposeService {
  image?: string;
  ports?: string[];
}

/** Compose service name for each image kind. */
const SERVICE_FOR: Record<ServiceImageKind, string> = {
  postgres: "postgres",
  rabbitmq: "rabbitmq",
  s3: "s3",
  sshd: "rsync",
};

async function services(): Promise<Record<string, ComposeService>> {
  const text = await readFile(path.join(ROOT, "docker-compose.test.yml"), "utf8");
  const doc = parse(text) as { services?: Record<string, ComposeService> };
  return doc.services ?? {};
}

describe("docker-compose.test.yml", () => {
  it.each(Object.values(SERVICE_IMAGES))("runs $defaultName, overridable by $envVar", async (spec) => {
    const service = (await services())[SERVICE_FOR[spec.kind]];
    expect(service?.image).toBe(`\${${spec.envVar}:-${spec.defaultName}}`);
  });

  it("has no service without a test image", async () => {
    expect(Object.keys(await services()).sort()).toEqual(Object.values(SERVICE_FOR).sort());
  });

  it("publishes every port on 127.0.0.1 only", async () => {
    for (const [name, service] of Object.entries(await services())) {
      for (const port of service.ports ?? []) {
        expect(port, `${name}: ${port}`).toMatch(/^127\.0\.0\.1:/);
      }
    }
  });
});
