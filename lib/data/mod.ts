export * from "./prompt.ts";
export * from "./jsonl.ts";
export * from "./tasks/arithmetic.ts";
