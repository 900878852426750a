/**
 * Whether a process with this pid exists on this host. Signal 0 checks existence only: ESRCH means
 * gone; EPERM means it exists but belongs to another user (so it counts as alive). Used to tell a
 * crashed or SIGKILLed run's leftovers (locks, tool containers, temp dirs) from a live run's.
 */
export function isPidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
