import { describeKindConformance } from "./kind-conformance.js";
import { symfonySecretsHarness } from "./harnesses/symfony-secrets.js";

describeKindConformance(symfonySecretsHarness);
