/**
 * Regenerates test/fixtures/symfony-secrets/: for every Symfony release in the
 * backdrill-test/symfony-php image, the vaults of every scenario in test/support/symfony-php.ts
 * exactly as Symfony's own SodiumVault wrote them, plus expected.json with what Symfony itself
 * lists and reveals from them. The unit tests (no Docker) read these bytes; the integration test
 * writes fresh vaults with the same scenarios.
 *
 *   npx tsx scripts/symfony-vault-fixtures.ts     (as root: builds the test images if needed)
 *
 * The keys are throwaway test keys, generated anew on every run; so are the dates in the files.
 */
import { rm, writeFile } from "node:fs/promises";
import path from "node:path";
import {
  listedNames,
  SYMFONY_VERSIONS,
  writeScenarios,
  type ListedName,
  type RevealedValue,
} from "../test/support/symfony-php.js";
import { prepareTestEnv, REPO_ROOT } from "../test/support/test-env.js";

const FIXTURES = path.join(REPO_ROOT, "test/fixtures/symfony-secrets");

interface Expected {
  symfony: string;
  php: string;
  scenarios: Record<string, { names: ListedName[]; values: RevealedValue[] }>;
}

await prepareTestEnv({ log: (line) => console.log(line) });
for (const version of SYMFONY_VERSIONS) {
  const dir = path.join(FIXTURES, version);
  await rm(dir, { recursive: true, force: true });
  const expected: Expected = { symfony: "", php: "", scenarios: {} };
  for (const [name, { run }] of await writeScenarios(version, dir)) {
    expected.symfony = run.symfony;
    expected.php = run.php;
    const reveal = run.results.find((r) => r.op === "revealAll");
    expected.scenarios[name] = {
      names: listedNames(run),
      values: reveal?.op === "revealAll" ? reveal.values : [],
    };
  }
  await writeFile(path.join(dir, "expected.json"), `${JSON.stringify(expected, null, 2)}\n`);
  console.log(`${version}: Symfony ${expected.symfony} on PHP ${expected.php}`);
}
