import { describeKindConformance } from "./kind-conformance.js";
import { filesHarness } from "./harnesses/files.js";

describeKindConformance(filesHarness);
