import { describe, expect, it } from "vitest";
import { OperationError } from "../../errors.js";
import { connectionHint, maskAssignments } from "./doctor.js";

describe("doctor postgres helpers", () => {
  it("masks NAME=value assignments in archive_command", () => {
    expect(maskAssignments("AWS_SECRET_ACCESS_KEY=abc wal-g wal-push %p")).toBe(
      "AWS_SECRET_ACCESS_KEY=*** wal-g wal-push %p",
    );
    expect(maskAssignments("backdrill wal push task-wal %p")).toBe("backdrill wal push task-wal %p");
  });

  it("hints by what the server or network said", () => {
    const job = {
      name: "task-db",
      kind: "postgres-dump",
      connection: { host: "db", port: 5432, user: "backup", passwordEnv: "TASK_DB_PASSWORD" },
    } as const;
    const withCode = (code: string) =>
      new OperationError("cannot connect", { cause: Object.assign(new Error("x"), { code }) });
    // The job type is wider than what the hint reads; the literal covers those fields.
    const hint = (code: string) =>
      connectionHint(
        withCode(code),
        job as unknown as Parameters<typeof connectionHint>[1],
        "jobs/task-db.yaml",
      );
    expect(hint("28P01")).toMatch(/check the password in TASK_DB_PASSWORD/);
    expect(hint("28000")).toMatch(/pg_hba\.conf/);
    expect(hint("ECONNREFUSED")).toMatch(/listen_addresses/);
    expect(hint("XX000")).toMatch(/host, port, user/);
  });
});
