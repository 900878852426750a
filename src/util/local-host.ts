/**
 * Whether a host is this machine (loopback or a Unix socket directory): traffic to it never
 * crosses a network, so plain-text protocols and unverified TLS are only warned about for others.
 */
export function isLocalHost(host: string): boolean {
  const bare = host.replace(/^\[(.*)\]$/, "$1").toLowerCase();
  return (
    bare === "" ||
    bare.startsWith("/") ||
    bare === "localhost" ||
    bare.endsWith(".localhost") ||
    /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(bare) ||
    bare === "::1"
  );
}
