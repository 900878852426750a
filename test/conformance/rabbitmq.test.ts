import { describeKindConformance } from "./kind-conformance.js";
import { rabbitmqHarness } from "./harnesses/rabbitmq.js";

describeKindConformance(rabbitmqHarness);
