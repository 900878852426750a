/**
 * The one place that names the locally built test images. No container registry is reachable on
 * the test machines, so every image is built from a debootstrapped Debian base (see test-env.ts);
 * docker-compose.test.yml and the container classes must agree with these names.
 *
 * Each service image can be replaced by an environment variable (for example to try an official
 * image on a machine that can pull); an overridden image is used as given and never built.
 *
 * BACKDRILL_TEST_IMAGE_PREFIX (default `backdrill-test/`) renames the whole built set, base
 * included: a run that must not see, use or rebuild the shared images (the quick-start test's
 * "nothing is built yet" case) picks a prefix of its own. docker-compose.test.yml ignores it.
 */

/** The prefix of every image we build, as written in the default names below. */
export const DEFAULT_IMAGE_PREFIX = "backdrill-test/";
export const IMAGE_PREFIX_ENV = "BACKDRILL_TEST_IMAGE_PREFIX";
export const BASE_IMAGE = "backdrill-test/debian:trixie";

/** A built image's name under the prefix in force (`backdrill-test/s3:latest` -> `<prefix>s3:latest`). */
export function builtName(defaultName: string, env: NodeJS.ProcessEnv = process.env): string {
  const prefix = env[IMAGE_PREFIX_ENV];
  if (prefix === undefined || prefix === "" || prefix === DEFAULT_IMAGE_PREFIX) return defaultName;
  if (!/^[a-z0-9][a-z0-9._-]*\/$/.test(prefix)) {
    throw new Error(
      `${IMAGE_PREFIX_ENV}=${prefix}: expected a lower-case repository name ending in /, e.g. my-run/`,
    );
  }
  return `${prefix}${defaultName.slice(DEFAULT_IMAGE_PREFIX.length)}`;
}

/** The debootstrapped Debian every service image is built FROM. */
export const baseImage = (env: NodeJS.ProcessEnv = process.env): string => builtName(BASE_IMAGE, env);

export type ServiceImageKind = "postgres" | "rabbitmq" | "s3" | "sshd";

export interface ImageSpec {
  kind: ImageKind;
  /** Environment variable that overrides the image name. */
  envVar: string;
  /** Name used when the variable is unset; this is the one we build. */
  defaultName: string;
  /** Build context, relative to the repository root. */
  contextDir: string;
}

export interface ServiceImageSpec extends ImageSpec {
  kind: ServiceImageKind;
}

export const SERVICE_IMAGES: Readonly<Record<ServiceImageKind, ServiceImageSpec>> = {
  postgres: {
    kind: "postgres",
    envVar: "BACKDRILL_TEST_POSTGRES_IMAGE",
    defaultName: "backdrill-test/postgres:17",
    contextDir: "docker/postgres",
  },
  rabbitmq: {
    kind: "rabbitmq",
    envVar: "BACKDRILL_TEST_RABBITMQ_IMAGE",
    defaultName: "backdrill-test/rabbitmq:4-management",
    contextDir: "docker/rabbitmq",
  },
  s3: {
    kind: "s3",
    envVar: "BACKDRILL_TEST_S3_IMAGE",
    defaultName: "backdrill-test/s3:latest",
    contextDir: "docker/s3",
  },
  sshd: {
    kind: "sshd",
    envVar: "BACKDRILL_TEST_SSHD_IMAGE",
    defaultName: "backdrill-test/sshd-rsync:latest",
    contextDir: "docker/sshd-rsync",
  },
};

export type ToolImageKind = "symfony-php" | "task-app";

/**
 * Images the tests run as programs rather than as services (no Compose service): producers of
 * data in formats other software writes, such as Symfony's own secrets vault code.
 */
export const TOOL_IMAGES: Readonly<Record<ToolImageKind, ImageSpec>> = {
  "symfony-php": {
    kind: "symfony-php",
    envVar: "BACKDRILL_TEST_SYMFONY_PHP_IMAGE",
    defaultName: "backdrill-test/symfony-php:latest",
    contextDir: "docker/symfony-php",
  },
  // TasK's application in miniature: the smoke test of stack drills (docker/task-app/).
  "task-app": {
    kind: "task-app",
    envVar: "BACKDRILL_TEST_TASK_APP_IMAGE",
    defaultName: "backdrill-test/task-app:latest",
    contextDir: "docker/task-app",
  },
};

export type ImageKind = ServiceImageKind | ToolImageKind;

/** Every image test-env builds, services first. */
export const BUILT_IMAGES: readonly ImageSpec[] = [
  ...Object.values(SERVICE_IMAGES),
  ...Object.values(TOOL_IMAGES),
];

const ALL_IMAGES: Readonly<Record<ImageKind, ImageSpec>> = { ...SERVICE_IMAGES, ...TOOL_IMAGES };

/** True when the environment names another image, which we then must not build. */
export function isOverridden(kind: ImageKind, env: NodeJS.ProcessEnv = process.env): boolean {
  const value = env[ALL_IMAGES[kind].envVar];
  return value !== undefined && value !== "";
}

/** The image to run for a kind, honouring the override variable. */
export function imageName(kind: ImageKind, env: NodeJS.ProcessEnv = process.env): string {
  const spec = ALL_IMAGES[kind];
  const value = env[spec.envVar];
  return value !== undefined && value !== "" ? value : builtName(spec.defaultName, env);
}

export const postgresImage = (): string => imageName("postgres");
export const rabbitmqImage = (): string => imageName("rabbitmq");
export const s3Image = (): string => imageName("s3");
export const sshdImage = (): string => imageName("sshd");
export const symfonyPhpImage = (): string => imageName("symfony-php");
export const taskAppImage = (): string => imageName("task-app");
