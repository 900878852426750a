/**
 * Tunnels into a stack drill's containers. A stack's network is internal and the drill host has no
 * address on it (stack-network.ts), so nothing in the stack can open a connection to the host or
 * beyond, and the host cannot open one into it either. The runner still checks every service as
 * usual, through these tunnels: a TCP listener on 127.0.0.1 of the drill host whose connections
 * each become one `docker exec -i <container> bash` that opens the service's port from inside the
 * container's own network namespace (bash's /dev/tcp) and copies bytes both ways. The only path in
 * is the Docker API, which the drill uses anyway; no container of the stack gets a route out.
 *
 * The cost: the service's image needs bash (checked once, with a clear error), every connection
 * costs a `docker exec`, and the far end cannot see a half-close (bash cannot shut a socket down
 * for writing). A client that closes first leaves the in-container copy running until the server
 * drops the connection (at most its idle timeout); it dies with the container in any case.
 */
import { createServer, type Socket } from "node:net";
import { OperationError } from "../errors.js";
import { run, spawnStream, type StreamingProcess } from "../exec/process.js";
import type { Scope } from "../lifecycle/scope.js";

export const TUNNEL_HOST = "127.0.0.1";

/**
 * Runs inside the container: $1 is the port. The socket's output is the foreground copy, so the
 * exec (and with it the tunnelled connection) ends when the service closes; the client's input is
 * copied in the background (fd 4: an asynchronous command's stdin would otherwise be /dev/null).
 */
const FORWARD = [
  'exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 97',
  "exec 4<&0",
  "cat <&4 >&3 &",
  "cat <&3",
  'kill "$!" 2>/dev/null',
  "exit 0",
].join("\n");

/** One line when a container cannot be tunnelled into: its image has no bash. */
export async function requireBash(containerId: string, image: string, what: string): Promise<void> {
  const probe = await run("docker", ["exec", containerId, "bash", "-c", "exit 0"], {
    okExitCodes: [0, 1, 126, 127],
    description: `docker exec bash in ${what}`,
  });
  if (probe.exitCode !== 0) {
    throw new OperationError(
      `${what}: image ${image} has no bash; a stack drill reaches each service through docker exec bash (its /dev/tcp), as the stack's network has no route to the drill host`,
    );
  }
}

/**
 * Opens a tunnel to `port` of the container; returns the local port on 127.0.0.1. Owned by
 * `scope`: closing it stops listening and ends every tunnelled connection.
 */
export async function openTunnel(
  containerId: string,
  port: number,
  scope: Scope,
  what: string,
): Promise<number> {
  const children = new Set<StreamingProcess>();
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    const child = spawnStream(
      "docker",
      ["exec", "-i", containerId, "bash", "-c", FORWARD, "backdrill-tunnel", String(port)],
      { stdin: "pipe", stdout: "pipe", description: `tunnel to port ${port} of ${what}` },
    );
    children.add(child);
    const finish = (): void => {
      children.delete(child);
      sockets.delete(socket);
      child.kill();
      socket.destroy();
    };
    // A closed client or a dead exec ends the pair; errors on either side mean the same.
    child.stdin.on("error", () => undefined);
    child.stdout.on("error", finish);
    socket.on("error", finish);
    socket.on("close", finish);
    socket.pipe(child.stdin);
    child.stdout.pipe(socket);
    child.done.catch(() => undefined).finally(() => socket.end());
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, TUNNEL_HOST, () => {
      server.off("error", reject);
      resolve();
    });
  });
  scope.defer(`tunnel to port ${port} of ${what}`, async () => {
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of sockets) socket.destroy();
    for (const child of children) child.kill();
    await closed;
  });
  const address = server.address();
  if (address === null || typeof address === "string") {
    throw new OperationError(`cannot open a tunnel to ${what}: no local port`);
  }
  return address.port;
}
