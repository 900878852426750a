/**
 * Which machine (and which boot of it) a run is on, for the job lock: "the holder is dead" may be
 * judged from its pid only on the machine that holds it, and host names are not unique (two
 * containers from one image, two VMs cloned from one template, a renamed host). A lock records
 * the machine id, the boot id and the host name; a holder counts as "here" only when all match.
 *
 *   machine id: /etc/machine-id (systemd), /var/lib/dbus/machine-id, else a random id generated
 *               once and kept in $XDG_STATE_HOME/backdrill/machine-id (~/.local/state/...), 0600.
 *   boot id:    /proc/sys/kernel/random/boot_id: the same machine after a reboot runs no process
 *               of before, so every lock it held is dead whatever its pid.
 */
import { randomBytes } from "node:crypto";
import { mkdir, open, readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";

export interface MachineIdentity {
  machineId: string;
  /** null where the kernel does not tell (not Linux). */
  bootId: string | null;
}

const ID = /^[0-9a-f]{32}$/;

let cached: Promise<MachineIdentity> | undefined;

/** This machine's identity; computed once per process. */
export function machineIdentity(): Promise<MachineIdentity> {
  cached ??= readIdentity();
  return cached;
}

async function readIdentity(): Promise<MachineIdentity> {
  const bootId = (await readTrimmed("/proc/sys/kernel/random/boot_id"))?.replace(/-/g, "") ?? null;
  for (const path of ["/etc/machine-id", "/var/lib/dbus/machine-id"]) {
    const id = await readTrimmed(path);
    if (id !== null && ID.test(id)) return { machineId: id, bootId };
  }
  return { machineId: await storedMachineId(), bootId };
}

async function readTrimmed(path: string): Promise<string | null> {
  try {
    return (await readFile(path, "utf8")).trim();
  } catch {
    return null;
  }
}

/** A generated id kept in the user's state directory; created exclusively so two runs agree. */
async function storedMachineId(): Promise<string> {
  const dir = join(process.env.XDG_STATE_HOME ?? join(homedir(), ".local", "state"), "backdrill");
  const file = join(dir, "machine-id");
  const existing = await readTrimmed(file);
  if (existing !== null && ID.test(existing)) return existing;
  const id = randomBytes(16).toString("hex");
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const handle = await open(file, "wx", 0o600);
    try {
      await handle.writeFile(`${id}\n`);
      await handle.sync();
    } finally {
      await handle.close();
    }
    return id;
  } catch {
    // Another run created it first (use theirs), or it cannot be stored: then this process's id
    // is unique to it, and its locks are judged by their expiry alone (safe, only slower).
    const raced = await readTrimmed(file);
    return raced !== null && ID.test(raced) ? raced : id;
  }
}
