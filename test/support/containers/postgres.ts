/**
 * Throwaway PostgreSQL 17 + pgvector, on our locally built image (see docker/postgres), started
 * through @testcontainers/postgresql so its health check, SSL and snapshot support keep working.
 *
 *   const pg = await new PostgresContainer().withDatabase("task").start();
 *   await pg.psql("create extension vector");
 *   pg.connectionUri  // postgres://test:test@127.0.0.1:PORT/task
 *
 * A wrapper rather than a subclass: StartedPostgreSqlContainer keeps `database` and `password` as
 * private fields, so a subclass could not expose them under those names.
 */
import { PostgreSqlContainer, type StartedPostgreSqlContainer } from "@testcontainers/postgresql";
import { AbstractStartedContainer } from "testcontainers";
import { configureTestcontainers, loopbackPortBindings, testLabels } from "../docker.js";
import { postgresImage } from "../images.js";

/** PostgreSqlContainer publishing its port on 127.0.0.1 only (hostConfig is protected). */
class LoopbackPostgreSqlContainer extends PostgreSqlContainer {
  override async start(): Promise<StartedPostgreSqlContainer> {
    this.hostConfig.PortBindings = loopbackPortBindings(this.hostConfig.PortBindings);
    // tini as PID 1, as the product's drill containers (src/docker/container.ts): orphans of
    // `docker exec` must not become the postmaster's children (it restarts the server when one
    // dies by a signal).
    this.hostConfig.Init = true;
    return super.start();
  }
}

export class PostgresContainer {
  /** The underlying builder, for options not mirrored here (withCommand, withTmpFs, withSSL...). */
  readonly container: PostgreSqlContainer;
  private user = "test";
  private password = "test";
  private database = "test";

  constructor(image: string = postgresImage()) {
    configureTestcontainers();
    this.container = new LoopbackPostgreSqlContainer(image).withLabels(testLabels());
  }

  withUsername(username: string): this {
    this.user = username;
    this.container.withUsername(username);
    return this;
  }

  withPassword(password: string): this {
    this.password = password;
    this.container.withPassword(password);
    return this;
  }

  withDatabase(database: string): this {
    this.database = database;
    this.container.withDatabase(database);
    return this;
  }

  /** Extra server options, e.g. ["-c", "wal_level=replica"] (the entrypoint passes them on). */
  withServerArgs(...args: string[]): this {
    this.container.withCommand(["postgres", ...args]);
    return this;
  }

  async start(): Promise<StartedPostgresContainer> {
    const started = await this.container.start();
    return new StartedPostgresContainer(started, this.database, this.user, this.password);
  }
}

export class StartedPostgresContainer extends AbstractStartedContainer {
  readonly host: string;
  readonly port: number;
  /** postgres://user:password@127.0.0.1:PORT/database */
  readonly connectionUri: string;

  constructor(
    /** The @testcontainers/postgresql handle (snapshot(), restoreSnapshot()). */
    readonly postgres: StartedPostgreSqlContainer,
    readonly database: string,
    readonly user: string,
    readonly password: string,
  ) {
    super(postgres);
    this.host = postgres.getHost();
    this.port = postgres.getPort();
    this.connectionUri = postgres.getConnectionUri();
  }

  /**
   * Runs SQL with psql inside the container (Unix socket, trust auth) and returns the unaligned,
   * tuples-only output; throws with psql's stderr when it fails. Needs no client on the host.
   */
  async psql(sql: string, database: string = this.database): Promise<string> {
    const result = await this.exec([
      "psql",
      "-X",
      "-q",
      "-v",
      "ON_ERROR_STOP=1",
      "-At",
      "-U",
      this.user,
      "-d",
      database,
      "-c",
      sql,
    ]);
    if (result.exitCode !== 0) {
      throw new Error(
        `psql failed (exit ${result.exitCode}): ${result.stderr.trim() || result.output.trim()}`,
      );
    }
    return result.stdout.trim();
  }
}
