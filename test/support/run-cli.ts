import { main } from "../../src/cli/main.js";

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs the CLI in-process (same code path as the `backdrill` executable, minus process start-up), capturing stdout
 * and stderr, so a table-driven test over dozens of invocations stays fast.
 */
export async function runCli(
  args: string[],
  env: Record<string, string | undefined> = {},
): Promise<CliResult> {
  const saved: Record<string, string | undefined> = {};
  for (const [key, value] of Object.entries(env)) {
    saved[key] = process.env[key];
    if (value === undefined) delete process.env[key];
    else process.env[key] = value;
  }
  let stdout = "";
  let stderr = "";
  const originalOut = process.stdout.write.bind(process.stdout);
  const originalErr = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((chunk: string | Uint8Array) => {
    stdout += chunk.toString();
    return true;
  }) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string | Uint8Array) => {
    stderr += chunk.toString();
    return true;
  }) as typeof process.stderr.write;
  try {
    // Quiet by default so assertions on stderr see errors, not info lines.
    const argv = args.includes("--log-level") ? args : [...args, "--log-level", "warn"];
    const code = await main(argv);
    return { code, stdout, stderr };
  } finally {
    process.stdout.write = originalOut;
    process.stderr.write = originalErr;
    for (const [key, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  }
}

/** `backdrill verify --read-data --identity <identityFile> --config-dir <configDir>`, in-process. */
export function verifyReadData(configDir: string, identityFile: string): Promise<CliResult> {
  return runCli(["verify", "--read-data", "--identity", identityFile, "--config-dir", configDir]);
}
