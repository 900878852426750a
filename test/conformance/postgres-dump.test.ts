import { describeKindConformance } from "./kind-conformance.js";
import { postgresDumpHarness } from "./harnesses/postgres-dump.js";

describeKindConformance(postgresDumpHarness);
