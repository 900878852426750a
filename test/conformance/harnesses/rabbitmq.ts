/**
 * Conformance harness of the `rabbitmq` kind: a source broker with a vhost, users, permissions, a
 * policy, exchanges, queues and bindings; one target broker, emptied before each restore target.
 */
import { RabbitMQContainer, type StartedRabbitMQContainer } from "../../support/containers/rabbitmq.js";
import { rabbitmqImage } from "../../support/images.js";
import type { KindHarness, RestoreTarget } from "../kind-conformance.js";

const USER = "backup";
const PASSWORD = "conformance-mq-pw-41c9";

const api = (mq: StartedRabbitMQContainer, method: string, pathname: string, body?: unknown) =>
  mq.api(method, pathname, body);

interface Named {
  name: string;
  vhost?: string;
}

async function list(mq: StartedRabbitMQContainer, what: string): Promise<Named[]> {
  return (await api(mq, "GET", `/${what}`)) as Named[];
}

/** What a broker holds beyond a fresh one's own vhost and user, as sorted lines. */
async function contents(mq: StartedRabbitMQContainer): Promise<string[]> {
  const lines: string[] = [];
  for (const vhost of await list(mq, "vhosts")) if (vhost.name !== "/") lines.push(`vhost ${vhost.name}`);
  for (const user of await list(mq, "users")) if (user.name !== mq.user) lines.push(`user ${user.name}`);
  for (const what of ["queues", "exchanges", "policies"]) {
    for (const item of await list(mq, what)) {
      if (what === "exchanges" && (item.name === "" || item.name.startsWith("amq."))) continue;
      lines.push(`${what} ${item.vhost ?? ""}/${item.name}`);
    }
  }
  return lines.sort();
}

export const rabbitmqHarness: KindHarness = {
  kind: "rabbitmq",
  async start() {
    const source = await new RabbitMQContainer().withCredentials(USER, PASSWORD).start();
    let target: StartedRabbitMQContainer | undefined;
    await api(source, "PUT", "/vhosts/task", { description: "TasK" });
    await api(source, "PUT", `/permissions/task/${USER}`, { configure: ".*", write: ".*", read: ".*" });
    await api(source, "PUT", "/users/task_worker", { password: "worker-pw", tags: "" });
    await api(source, "PUT", "/permissions/task/task_worker", { configure: "", write: ".*", read: ".*" });
    await api(source, "PUT", "/policies/task/ttl", {
      pattern: "^task\\.",
      definition: { "message-ttl": 60000 },
      "apply-to": "queues",
    });
    for (let i = 0; i < 5; i += 1) {
      await api(source, "PUT", `/exchanges/task/task.x${i}`, { type: "topic", durable: true });
      await api(source, "PUT", `/queues/task/task.q${i}`, { durable: true });
      await api(source, "POST", `/bindings/task/e/task.x${i}/q/task.q${i}`, { routing_key: `task.${i}.#` });
    }
    const expected = (await contents(source)).filter((line) => line !== `user ${USER}`);

    return {
      job: { url: source.managementUrl, user: USER, passwordEnv: "RABBITMQ_BACKUP_PASSWORD" },
      env: { RABBITMQ_BACKUP_PASSWORD: PASSWORD },
      wrongSecret: { env: { RABBITMQ_BACKUP_PASSWORD: "not-the-password" }, check: "management API" },
      target: { image: rabbitmqImage() },
      async restoreTarget(): Promise<RestoreTarget> {
        target ??= await new RabbitMQContainer().start();
        const broker = target;
        // Back to a fresh broker: everything but its own vhost and user goes.
        for (const vhost of await list(broker, "vhosts")) {
          if (vhost.name !== "/") await api(broker, "DELETE", `/vhosts/${encodeURIComponent(vhost.name)}`);
        }
        for (const user of await list(broker, "users")) {
          if (user.name !== broker.user)
            await api(broker, "DELETE", `/users/${encodeURIComponent(user.name)}`);
        }
        for (const queue of await list(broker, "queues")) {
          await api(broker, "DELETE", `/queues/%2F/${encodeURIComponent(queue.name)}`);
        }
        return {
          to: broker.managementUrl,
          env: {
            BACKDRILL_RESTORE_RABBITMQ_USER: broker.user,
            BACKDRILL_RESTORE_RABBITMQ_PASSWORD: broker.password,
          },
          state: async () => (await contents(broker)).join("\n"),
          occupy: async () => {
            await api(broker, "PUT", "/queues/%2F/someone-elses-queue", { durable: true });
          },
          verify: async () => {
            const restored = await contents(broker);
            const missing = expected.filter((line) => !restored.includes(line));
            if (missing.length > 0) throw new Error(`not restored: ${missing.join(", ")}`);
          },
        };
      },
      async stop() {
        await target?.stop();
        await source.stop();
      },
    };
  },
};
