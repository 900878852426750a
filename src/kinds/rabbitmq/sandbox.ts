/**
 * The drill's throwaway RabbitMQ: a container of the target's image with the management plugin,
 * published on 127.0.0.1, owned by the operation's scope. Its bootstrap user gets a random name
 * and password (RABBITMQ_DEFAULT_USER / _PASS, honoured by the official image), so it can never
 * collide with a user from the backup, and the comparison can ignore exactly that user.
 */
import type { PullPolicy } from "../../docker/container.js";
import { randomBytes } from "node:crypto";
import { startDrillContainer } from "../../docker/container.js";
import type { Scope } from "../../lifecycle/scope.js";
import type { StackPlacement } from "../contract.js";
import { registerSecret } from "../../log/redact.js";
import type { ManagementEndpoint } from "./http.js";

export const MANAGEMENT_PORT = 15672;
export const AMQP_PORT = 5672;

export interface RabbitSandbox {
  endpoint: ManagementEndpoint;
  /** The bootstrap user the fresh broker was given (ignored when comparing). */
  user: string;
  password: string;
}

export async function startRabbitSandbox(
  image: string,
  scope: Scope,
  signal: AbortSignal,
  pull: PullPolicy = "never",
  network?: StackPlacement,
): Promise<RabbitSandbox> {
  const user = `backdrill-drill-${randomBytes(4).toString("hex")}`;
  const password = randomBytes(18).toString("base64url");
  registerSecret(password);
  const started = await startDrillContainer({
    image,
    what: "drill RabbitMQ",
    scope,
    signal,
    pull,
    env: { RABBITMQ_DEFAULT_USER: user, RABBITMQ_DEFAULT_PASS: password },
    ports: [MANAGEMENT_PORT],
    network,
    // The management plugin answers before the default user exists: wait for an authenticated 200.
    wait: (wait) =>
      wait.forHttp("/api/overview", MANAGEMENT_PORT).withBasicCredentials(user, password).forStatusCode(200),
    startupTimeoutMs: 180_000,
  });
  return {
    user,
    password,
    endpoint: {
      url: `http://${started.getHost()}:${started.getMappedPort(MANAGEMENT_PORT)}`,
      user,
      password,
    },
  };
}
