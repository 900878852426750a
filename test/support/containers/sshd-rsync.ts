/**
 * Throwaway SSH + rsync host (docker/sshd-rsync) for the files engine's remote destinations.
 * A fresh ed25519 key pair is generated per container into a private temp dir (removed on stop);
 * the container's host key is written to a known_hosts file so clients can verify it strictly.
 *
 *   const host = await new SshdRsyncContainer().start();
 *   await execa("rsync", ["-a", "-e", host.sshCommand(), "dir/", host.remote("/home/backup/dir/")]);
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { execa } from "execa";
import {
  AbstractStartedContainer,
  GenericContainer,
  Wait,
  type StartedTestContainer,
  type StopOptions,
  type StoppedTestContainer,
} from "testcontainers";
import { configureTestcontainers, loopbackPortBindings, testLabels } from "../docker.js";
import { sshdImage } from "../images.js";

const SSH_PORT = 22;

export class SshdRsyncContainer extends GenericContainer {
  private user = "backup";

  constructor(image: string = sshdImage()) {
    configureTestcontainers();
    super(image);
    this.withExposedPorts(SSH_PORT)
      .withLabels(testLabels())
      .withWaitStrategy(Wait.forAll([Wait.forLogMessage(/Server listening on/), Wait.forListeningPorts()]))
      .withStartupTimeout(60_000);
  }

  /** Login user (not GenericContainer's withUser, which sets the user the container runs as). */
  withSshUser(user: string): this {
    this.user = user;
    return this;
  }

  override async start(): Promise<StartedSshdRsyncContainer> {
    const keyDir = await mkdtemp(path.join(tmpdir(), "backdrill-sshd-"));
    try {
      const privateKeyPath = path.join(keyDir, "id_ed25519");
      // ssh-keygen writes the private key with mode 0600 itself; mkdtemp makes the dir 0700.
      await execa("ssh-keygen", [
        "-q",
        "-t",
        "ed25519",
        "-N",
        "",
        "-C",
        "backdrill-test",
        "-f",
        privateKeyPath,
      ]);
      const publicKey = (await readFile(`${privateKeyPath}.pub`, "utf8")).trim();
      this.withEnvironment({ SSH_USER: this.user, SSH_AUTHORIZED_KEY: publicKey });
      this.hostConfig.PortBindings = loopbackPortBindings(this.hostConfig.PortBindings);
      const started = await super.start();

      const host = started.getHost();
      const port = started.getMappedPort(SSH_PORT);
      const hostKey = await started.exec(["cat", "/etc/ssh/ssh_host_ed25519_key.pub"]);
      const knownHostsPath = path.join(keyDir, "known_hosts");
      const [keyType, keyData] = hostKey.stdout.trim().split(/\s+/);
      await writeFile(knownHostsPath, `[${host}]:${port} ${keyType} ${keyData}\n`, { mode: 0o600 });
      return new StartedSshdRsyncContainer(started, this.user, keyDir, privateKeyPath, knownHostsPath);
    } catch (error) {
      await rm(keyDir, { recursive: true, force: true });
      throw error;
    }
  }
}

export class StartedSshdRsyncContainer extends AbstractStartedContainer {
  readonly host: string;
  readonly port: number;

  constructor(
    started: StartedTestContainer,
    readonly user: string,
    private readonly keyDir: string,
    readonly privateKeyPath: string,
    readonly knownHostsPath: string,
  ) {
    super(started);
    this.host = started.getHost();
    this.port = started.getMappedPort(SSH_PORT);
  }

  /** `user@host:path`, for rsync and scp. */
  remote(remotePath: string): string {
    return `${this.user}@${this.host}:${remotePath}`;
  }

  /** ssh options that log in with the generated key and verify the container's host key. */
  sshArgs(): string[] {
    return [
      "-i",
      this.privateKeyPath,
      "-p",
      String(this.port),
      "-o",
      "IdentitiesOnly=yes",
      "-o",
      "BatchMode=yes",
      "-o",
      "StrictHostKeyChecking=yes",
      "-o",
      `UserKnownHostsFile=${this.knownHostsPath}`,
    ];
  }

  /** The same as one string, for `rsync -e` (temp paths contain no spaces). */
  sshCommand(): string {
    return ["ssh", ...this.sshArgs()].join(" ");
  }

  override async stop(options?: Partial<StopOptions>): Promise<StoppedTestContainer> {
    try {
      return await super.stop(options);
    } finally {
      await rm(this.keyDir, { recursive: true, force: true });
    }
  }
}
