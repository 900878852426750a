import { describe, expect, it } from "vitest";
import { OperationError } from "../../errors.js";
import { errnoCode, fsError } from "./fs-errors.js";

const errno = (code: string): Error => Object.assign(new Error(`${code}: raw message`), { code });

describe("fsError", () => {
  it("names the path, the action and the cause in words, with a hint", () => {
    const error = fsError("write", "/var/backups/task/data/x.age", errno("ENOSPC"));
    expect(error).toBeInstanceOf(OperationError);
    expect(error.message).toBe("cannot write /var/backups/task/data/x.age: no space left on device (ENOSPC)");
    expect(error.hint).toMatch(/free space/);
    expect(error.cause).toBeInstanceOf(Error);
  });

  it("explains permission problems", () => {
    const error = fsError("write", "/srv/repo/a", errno("EACCES"));
    expect(error.message).toContain("/srv/repo/a: permission denied (EACCES)");
    expect(error.hint).toMatch(/owner and mode/);
  });

  it("falls back to the original message for unknown codes and plain errors", () => {
    expect(fsError("read", "/p", errno("EWHATEVER")).message).toBe(
      "cannot read /p: EWHATEVER: raw message (EWHATEVER)",
    );
    expect(fsError("read", "/p", new Error("odd")).message).toBe("cannot read /p: odd");
  });
});

describe("errnoCode", () => {
  it("reads string codes only", () => {
    expect(errnoCode(errno("ENOENT"))).toBe("ENOENT");
    expect(errnoCode(Object.assign(new Error(), { code: 5 }))).toBeUndefined();
    expect(errnoCode("ENOENT")).toBeUndefined();
    expect(errnoCode(null)).toBeUndefined();
  });
});
