/**
 * The options every command takes, declared once: main.ts gives them to yargs, and
 * command-word.ts reads from the same declaration which of them take a value (so that the value
 * after `--config-dir` is never taken for the command word, whatever option is added here).
 */
import type { Options } from "yargs";

export function globalOptions(env: NodeJS.ProcessEnv): Record<string, Options> {
  return {
    "config-dir": {
      type: "string",
      describe: "directory holding policies/, jobs/, drills/ (env BACKDRILL_CONFIG_DIR)",
      default: env.BACKDRILL_CONFIG_DIR ?? ".",
      defaultDescription: "$BACKDRILL_CONFIG_DIR or .",
    },
    json: { type: "boolean", default: false, describe: "machine-readable result on stdout" },
    "log-level": {
      type: "string",
      choices: ["trace", "debug", "info", "warn", "error", "silent"],
      default: env.BACKDRILL_LOG_LEVEL ?? "info",
    },
  };
}

/** How argv spells each global option, split by whether a value follows it. */
export function globalOptionFlags(): { value: string[]; boolean: string[] } {
  const flags = { value: [] as string[], boolean: [] as string[] };
  for (const [name, option] of Object.entries(globalOptions({})))
    (option.type === "boolean" ? flags.boolean : flags.value).push(`--${name}`);
  return flags;
}
