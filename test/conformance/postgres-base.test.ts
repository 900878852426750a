import { describeKindConformance } from "./kind-conformance.js";
import { postgresBaseHarness } from "./harnesses/postgres-base.js";

describeKindConformance(postgresBaseHarness);
