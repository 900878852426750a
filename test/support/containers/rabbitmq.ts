/**
 * Throwaway RabbitMQ 4 with the management plugin (docker/rabbitmq), ready when the management
 * API answers an authenticated request, which is what the rabbitmq engine talks to.
 *
 *   const mq = await new RabbitMQContainer().start();
 *   await fetch(`${mq.managementUrl}/api/definitions`, { headers: { authorization: mq.authorization } });
 */
import { AbstractStartedContainer, GenericContainer, Wait, type StartedTestContainer } from "testcontainers";
import { configureTestcontainers, loopbackPortBindings, testLabels } from "../docker.js";
import { rabbitmqImage } from "../images.js";

const AMQP_PORT = 5672;
const MANAGEMENT_PORT = 15672;

export class RabbitMQContainer extends GenericContainer {
  private user = "backdrill";
  private password = "backdrill-test";

  constructor(image: string = rabbitmqImage()) {
    configureTestcontainers();
    super(image);
    this.withExposedPorts(AMQP_PORT, MANAGEMENT_PORT).withLabels(testLabels()).withStartupTimeout(120_000);
  }

  withCredentials(user: string, password: string): this {
    this.user = user;
    this.password = password;
    return this;
  }

  override async start(): Promise<StartedRabbitMQContainer> {
    this.withEnvironment({ RABBITMQ_DEFAULT_USER: this.user, RABBITMQ_DEFAULT_PASS: this.password });
    // The AMQP port opens before the management plugin; and the plugin answers before the
    // default user exists, so wait for an authenticated 200.
    this.withWaitStrategy(
      Wait.forHttp("/api/overview", MANAGEMENT_PORT)
        .withBasicCredentials(this.user, this.password)
        .forStatusCode(200),
    );
    this.hostConfig.PortBindings = loopbackPortBindings(this.hostConfig.PortBindings);
    const started = await super.start();
    return new StartedRabbitMQContainer(started, this.user, this.password);
  }
}

export class StartedRabbitMQContainer extends AbstractStartedContainer {
  /** http://127.0.0.1:PORT, without a trailing slash. */
  readonly managementUrl: string;
  /** amqp://user:password@127.0.0.1:PORT (credentials URL-encoded). */
  readonly amqpUrl: string;

  constructor(
    started: StartedTestContainer,
    readonly user: string,
    readonly password: string,
  ) {
    super(started);
    const host = started.getHost();
    this.managementUrl = `http://${host}:${started.getMappedPort(MANAGEMENT_PORT)}`;
    this.amqpUrl = `amqp://${encodeURIComponent(user)}:${encodeURIComponent(password)}@${host}:${started.getMappedPort(AMQP_PORT)}`;
  }

  /** Value for an HTTP Authorization header on the management API. */
  get authorization(): string {
    return `Basic ${Buffer.from(`${this.user}:${this.password}`).toString("base64")}`;
  }

  /** One management API call as this broker's admin; the parsed JSON answer (null when empty). */
  async api(method: string, pathname: string, body?: unknown): Promise<unknown> {
    const response = await fetch(`${this.managementUrl}/api${pathname}`, {
      method,
      headers: { authorization: this.authorization, "content-type": "application/json" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    if (!response.ok) throw new Error(`${method} ${pathname}: ${response.status} ${await response.text()}`);
    const text = await response.text();
    return text === "" ? null : (JSON.parse(text) as unknown);
  }
}
