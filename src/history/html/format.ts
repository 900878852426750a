/** How numbers and times read on the page (the same rules as the charts' axes, client.ts). */

/** `2026-11-28 04:00 UTC`: one zone for every reader, as an auditor compares across sites. */
export function formatTime(iso: string): string {
  const at = new Date(iso);
  if (Number.isNaN(at.getTime())) return iso;
  return `${at.toISOString().slice(0, 16).replace("T", " ")} UTC`;
}

/** One decimal, none when it is 0: 26 h, 6.2 h. */
function oneDecimal(value: number): string {
  return value.toFixed(1).replace(/\.0$/, "");
}

/** 45 s, 12 min, 6.2 h, 3.1 d (of an absolute value: callers say "over" or "left"). */
export function formatSeconds(seconds: number): string {
  const s = Math.abs(seconds);
  if (s < 120) return `${s < 10 ? oneDecimal(s) : Math.round(s)} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  if (s < 172_800) return `${oneDecimal(s / 3600)} h`;
  return `${oneDecimal(s / 86_400)} d`;
}

/** 512 B, 3.4 KiB, 120.5 MiB, 1.20 GiB. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 ** 2) return `${(bytes / 1024).toFixed(1)} KiB`;
  if (bytes < 1024 ** 3) return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
  return `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
}
