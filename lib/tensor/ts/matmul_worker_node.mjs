// Node runs this library's TypeScript through tsx, whose loader a worker thread does not
// inherit: register it here, then load the worker itself.
import { register } from "tsx/esm/api";

register();
await import("./matmul_worker.ts");
