export * from "./prompt.ts";
export * from "../io/jsonl.ts";
export * from "./tasks/arithmetic.ts";
