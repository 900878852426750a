/**
 * What a reader of the repository trusts (docs/security.md (Signed snapshots)): the signing keys whose
 * signatures it accepts, whether it takes unsigned records at all, and how far in the future a
 * time may lie before it is a lie. Built from the policy (and a drill's own keys) by `open.ts`;
 * a `Repository` made without one checks structure only, as a policy without `signing` does.
 */

/** A backup host's clock may run ahead of the reader's by this much before its times are refused. */
export const DEFAULT_CLOCK_SKEW_SECONDS = 5 * 60;

export interface RepositoryTrust {
  /**
   * Public keys (`ed25519:…`) whose signatures are accepted. `null`: signing is not configured,
   * signatures are not checked (structural checks still apply). An empty set is configured but
   * trusts no key: nothing signed passes.
   */
  readonly publicKeys: ReadonlySet<string> | null;
  /** Accept records without any signature (`restore --allow-unsigned`); a bad signature never passes. */
  readonly allowUnsigned: boolean;
  /** How far ahead of `now()` a snapshot's id or times may be before it counts as future-dated. */
  readonly clockSkewMs: number;
  readonly now: () => Date;
}

export function makeTrust(options: Partial<RepositoryTrust> = {}): RepositoryTrust {
  return {
    publicKeys: options.publicKeys ?? null,
    allowUnsigned: options.allowUnsigned ?? false,
    clockSkewMs: options.clockSkewMs ?? DEFAULT_CLOCK_SKEW_SECONDS * 1000,
    now: options.now ?? (() => new Date()),
  };
}

/** Whether `time` lies beyond the trust's clock-skew allowance. */
export function isFuture(trust: RepositoryTrust, time: number): boolean {
  return time > trust.now().getTime() + trust.clockSkewMs;
}
