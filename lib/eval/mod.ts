export * from "./metrics.ts";
export * from "./evaluate.ts";
