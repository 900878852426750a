import { describeKindConformance } from "./kind-conformance.js";
import { s3BucketHarness } from "./harnesses/s3-bucket.js";

describeKindConformance(s3BucketHarness);
