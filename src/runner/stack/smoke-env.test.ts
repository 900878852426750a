import { describe, expect, it } from "vitest";
import { smokeView } from "./smoke-env.js";

describe("the smoke test's view of the stack", () => {
  const key = Buffer.from("key");
  const view = smokeView(
    [
      {
        service: "postgres-pitr",
        job: "task-wal",
        kind: "postgres-base",
        exposed: { port: 5432, env: { DATABASES: "task" }, files: [], volume: null },
      },
      {
        service: "secrets",
        job: "task-secrets",
        kind: "symfony-secrets",
        exposed: {
          port: null,
          env: { ENVIRONMENT: "prod" },
          files: [{ name: "prod.decrypt.private.php", data: key }],
          volume: null,
        },
      },
      {
        service: "files",
        job: "task-files",
        kind: "files",
        exposed: { port: 22, env: {}, files: [], volume: "backdrill-volume-1" },
      },
      { service: "s3", job: "task-bucket", kind: "s3-bucket", exposed: undefined },
    ],
    { APP_ENV: "prod" },
  );

  it("names every service, where it is and what its kind adds, under its prefix", () => {
    expect(view.env).toEqual({
      APP_ENV: "prod",
      BACKDRILL_SERVICES: "postgres-pitr secrets files s3",
      POSTGRES_PITR_KIND: "postgres-base",
      POSTGRES_PITR_JOB: "task-wal",
      POSTGRES_PITR_RESTORED: "true",
      POSTGRES_PITR_HOST: "postgres-pitr",
      POSTGRES_PITR_PORT: "5432",
      POSTGRES_PITR_DATABASES: "task",
      SECRETS_KIND: "symfony-secrets",
      SECRETS_JOB: "task-secrets",
      SECRETS_RESTORED: "true",
      SECRETS_ENVIRONMENT: "prod",
      SECRETS_DIR: "/run/backdrill/secrets",
      FILES_KIND: "files",
      FILES_JOB: "task-files",
      FILES_RESTORED: "true",
      FILES_HOST: "files",
      FILES_PORT: "22",
      FILES_MOUNT: "/mnt/backdrill/files",
      S3_KIND: "s3-bucket",
      S3_JOB: "task-bucket",
      S3_RESTORED: "false",
    });
  });

  it("puts secret files under the tmpfs and volumes under /mnt, never in the environment", () => {
    expect(view.files).toEqual([{ path: "/run/backdrill/secrets/prod.decrypt.private.php", data: key }]);
    expect(view.mounts).toEqual([{ volume: "backdrill-volume-1", target: "/mnt/backdrill/files" }]);
    expect(Object.values(view.env)).not.toContain("key");
  });

  it("refuses a file name that is a path or hidden", () => {
    for (const name of ["../etc/passwd", ".ready", "a/b", ""]) {
      expect(() =>
        smokeView(
          [
            {
              service: "secrets",
              job: "j",
              kind: "symfony-secrets",
              exposed: { port: null, env: {}, files: [{ name, data: key }], volume: null },
            },
          ],
          {},
        ),
      ).toThrow(/refusing to hand the smoke test a file/);
    }
  });
});
