import type { LifecycleRule } from "@aws-sdk/client-s3";
import { describe, expect, it } from "vitest";
import { UsageError } from "../../errors.js";
import {
  desiredLifecycleRules,
  isOwned,
  mergeLifecycleRules,
  ownedRuleId,
  rulePrefix,
  sameRule,
} from "./lifecycle-rules.js";

const foreignLogs: LifecycleRule = {
  ID: "expire-logs",
  Status: "Enabled",
  Filter: { Prefix: "logs/" },
  Expiration: { Days: 30 },
};
const foreignNoId: LifecycleRule = { Status: "Enabled", Filter: { Prefix: "tmp/" }, Expiration: { Days: 1 } };
const policy = { abortIncompleteMultipartUploadDays: 7, noncurrentVersionExpirationDays: 35 };

describe("ownedRuleId", () => {
  it("is readable, prefixed backdrill-, and distinct for prefixes that sanitise alike", () => {
    expect(ownedRuleId("abort-incomplete-multipart", "")).toBe("backdrill-abort-incomplete-multipart");
    const a = ownedRuleId("x", "a/b/");
    const b = ownedRuleId("x", "a_b/");
    expect(a).toMatch(/^backdrill-x-a_b-[0-9a-f]{8}$/);
    expect(a).not.toBe(b);
    expect(ownedRuleId("x", `${"p".repeat(1000)}/`).length).toBeLessThanOrEqual(255);
  });
});

describe("desiredLifecycleRules", () => {
  it("builds the abort rule and, when asked, the noncurrent rule, filtered on the prefix", () => {
    const rules = desiredLifecycleRules(policy, "prod/");
    expect(rules).toHaveLength(2);
    expect(rules[0]).toMatchObject({
      Status: "Enabled",
      Filter: { Prefix: "prod/" },
      AbortIncompleteMultipartUpload: { DaysAfterInitiation: 7 },
    });
    expect(rules[1]).toMatchObject({ NoncurrentVersionExpiration: { NoncurrentDays: 35 } });
    expect(desiredLifecycleRules({ abortIncompleteMultipartUploadDays: 1 }, "")).toHaveLength(1);
  });

  it("rejects nonsense day counts", () => {
    expect(() => desiredLifecycleRules({ abortIncompleteMultipartUploadDays: 0 }, "")).toThrow(UsageError);
    expect(() =>
      desiredLifecycleRules(
        { abortIncompleteMultipartUploadDays: 1, noncurrentVersionExpirationDays: 1.5 },
        "",
      ),
    ).toThrow(UsageError);
  });
});

describe("rulePrefix / isOwned / sameRule", () => {
  it("reads the prefix from any of the equivalent spellings", () => {
    expect(rulePrefix({ Status: "Enabled", Filter: { Prefix: "a/" } })).toBe("a/");
    expect(rulePrefix({ Status: "Enabled", Prefix: "a/" })).toBe("a/");
    expect(rulePrefix({ Status: "Enabled" })).toBe("");
    expect(rulePrefix({ Status: "Enabled", Filter: {} })).toBe("");
    expect(rulePrefix({ Status: "Enabled", Filter: { Tag: { Key: "k", Value: "v" } } })).toBeUndefined();
  });

  it("owns only backdrill- rules for the same prefix", () => {
    const [ours] = desiredLifecycleRules(policy, "prod/");
    expect(isOwned(ours as LifecycleRule, "prod/")).toBe(true);
    expect(isOwned(ours as LifecycleRule, "staging/")).toBe(false);
    expect(isOwned(foreignLogs, "logs/")).toBe(false);
    expect(
      isOwned({ ...foreignLogs, ID: "backdrill-x", Filter: { Tag: { Key: "a", Value: "b" } } }, ""),
    ).toBe(false);
  });

  it("ignores how a server echoes a rule back", () => {
    const [ours] = desiredLifecycleRules(policy, "");
    const echoed: LifecycleRule = {
      Status: "Enabled",
      ID: ours?.ID,
      Prefix: "",
      AbortIncompleteMultipartUpload: { DaysAfterInitiation: 7 },
      Transitions: [],
    };
    expect(sameRule(ours as LifecycleRule, echoed)).toBe(true);
    expect(
      sameRule(ours as LifecycleRule, {
        ...echoed,
        AbortIncompleteMultipartUpload: { DaysAfterInitiation: 8 },
      }),
    ).toBe(false);
    expect(sameRule(ours as LifecycleRule, { ...echoed, Status: "Disabled" })).toBe(false);
    expect(sameRule(ours as LifecycleRule, { ...echoed, Expiration: { Days: 1 } })).toBe(false);
  });
});

describe("mergeLifecycleRules", () => {
  const desired = desiredLifecycleRules(policy, "prod/");
  const [abortRule, noncurrentRule] = desired as [LifecycleRule, LifecycleRule];

  it("adds our rules to an empty configuration", () => {
    const merge = mergeLifecycleRules([], desired, "prod/");
    expect(merge.rules).toEqual(desired);
    expect(merge.added).toEqual([abortRule.ID, noncurrentRule.ID]);
    expect(merge.changed).toBe(true);
  });

  it("keeps foreign rules, in place and untouched, and appends ours", () => {
    const merge = mergeLifecycleRules([foreignLogs, foreignNoId], desired, "prod/");
    expect(merge.rules).toEqual([foreignLogs, foreignNoId, ...desired]);
    expect(merge.foreign).toEqual(["expire-logs", "(no id)"]);
  });

  it("is a no-op when everything is already in place", () => {
    const merge = mergeLifecycleRules([foreignLogs, ...desired], desired, "prod/");
    expect(merge.changed).toBe(false);
    expect(merge.unchanged).toEqual([abortRule.ID, noncurrentRule.ID]);
    expect(merge.rules).toEqual([foreignLogs, ...desired]);
  });

  it("replaces a drifted rule of ours in its position", () => {
    const drifted = { ...abortRule, AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 } };
    const merge = mergeLifecycleRules([drifted, foreignLogs, noncurrentRule], desired, "prod/");
    expect(merge.updated).toEqual([abortRule.ID]);
    expect(merge.unchanged).toEqual([noncurrentRule.ID]);
    expect(merge.rules).toEqual([abortRule, foreignLogs, noncurrentRule]);
  });

  it("removes a rule of ours that is no longer wanted, and duplicates", () => {
    const onlyAbort = desiredLifecycleRules({ abortIncompleteMultipartUploadDays: 7 }, "prod/");
    const merge = mergeLifecycleRules(
      [abortRule, abortRule, noncurrentRule, foreignLogs],
      onlyAbort,
      "prod/",
    );
    expect(merge.removed).toEqual([abortRule.ID, noncurrentRule.ID]);
    expect(merge.rules).toEqual([abortRule, foreignLogs]);
    expect(merge.changed).toBe(true);
  });

  it("leaves backdrill rules of other prefixes alone", () => {
    const staging = desiredLifecycleRules({ abortIncompleteMultipartUploadDays: 3 }, "staging/");
    const merge = mergeLifecycleRules([...staging, foreignLogs], desired, "prod/");
    expect(merge.rules).toEqual([...staging, foreignLogs, ...desired]);
    expect(merge.foreign).toEqual([staging[0]?.ID, "expire-logs"]);
    expect(merge.removed).toEqual([]);
  });

  it("never drops a foreign rule whatever it looks like", () => {
    const odd: LifecycleRule[] = [
      { ID: "backdrill-lookalike", Status: "Enabled", Filter: { Tag: { Key: "a", Value: "b" } } },
      { ID: "", Status: "Disabled" },
      foreignLogs,
    ];
    const merge = mergeLifecycleRules(odd, [], "prod/");
    expect(merge.rules).toEqual(odd);
    expect(merge.changed).toBe(false);
  });
});
