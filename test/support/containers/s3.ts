/**
 * Throwaway S3-compatible server (moto) for storage and s3-bucket tests.
 *
 *   const s3 = await new S3Container().start();
 *   const client = s3.client();   // path-style, checksums only when required
 *   ...
 *   await s3.stop();
 *
 * moto accepts any credentials and keeps state in memory, so every container starts empty.
 */
import { S3Client } from "@aws-sdk/client-s3";
import { AbstractStartedContainer, GenericContainer, Wait, type StartedTestContainer } from "testcontainers";
import { configureTestcontainers, loopbackPortBindings, testLabels } from "../docker.js";
import { s3Image } from "../images.js";

const S3_PORT = 5000;

export class S3Container extends GenericContainer {
  private region = "us-east-1";
  private accessKeyId = "backdrill-test";
  private secretAccessKey = "backdrill-test-secret";

  constructor(image: string = s3Image()) {
    configureTestcontainers();
    super(image);
    this.withExposedPorts(S3_PORT)
      .withLabels(testLabels())
      // ListBuckets on "/" answers only once the Flask app is serving requests.
      .withWaitStrategy(Wait.forHttp("/", S3_PORT).forStatusCode(200))
      .withStartupTimeout(60_000);
  }

  withRegion(region: string): this {
    this.region = region;
    return this;
  }

  withCredentials(accessKeyId: string, secretAccessKey: string): this {
    this.accessKeyId = accessKeyId;
    this.secretAccessKey = secretAccessKey;
    return this;
  }

  override async start(): Promise<StartedS3Container> {
    // moto signs nothing itself, but it takes the default region from here for bucket creation.
    this.withEnvironment({ AWS_DEFAULT_REGION: this.region });
    this.hostConfig.PortBindings = loopbackPortBindings(this.hostConfig.PortBindings);
    const started = await super.start();
    return new StartedS3Container(started, this.region, this.accessKeyId, this.secretAccessKey);
  }
}

export class StartedS3Container extends AbstractStartedContainer {
  readonly endpoint: string;

  constructor(
    started: StartedTestContainer,
    readonly region: string,
    readonly accessKeyId: string,
    readonly secretAccessKey: string,
  ) {
    super(started);
    this.endpoint = `http://${started.getHost()}:${started.getMappedPort(S3_PORT)}`;
  }

  /**
   * A new client for this server. Path-style because the bucket name cannot be a subdomain of
   * 127.0.0.1; checksums only when required because SDK 3.729+ adds CRC32 trailers by default,
   * which S3-compatible servers handle inconsistently.
   */
  client(): S3Client {
    return s3TestClient({
      endpoint: this.endpoint,
      region: this.region,
      accessKeyId: this.accessKeyId,
      secretKey: this.secretAccessKey,
    });
  }
}

/**
 * A client for a test S3 server known by its address and credentials (a demo world's `stack.s3`),
 * with the same settings as StartedS3Container.client() (see there for why).
 */
export function s3TestClient(server: {
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretKey: string;
}): S3Client {
  return new S3Client({
    endpoint: server.endpoint,
    region: server.region,
    forcePathStyle: true,
    credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretKey },
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });
}
