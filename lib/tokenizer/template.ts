/**
 * Chat templates rendered by `@huggingface/jinja` under a budget: evaluation steps, wall-clock
 * time and output length. A template is code from a downloaded file; one that loops 10^7 times
 * or doubles a string until memory runs out must fail fast with an error naming its file, not
 * hang or take gigabytes. The interpreter is the library's, counted step by step; the globals
 * are those transformers gives templates, with `range` refusing lists no budget could iterate.
 */
import { Environment, Interpreter, type Template } from "@huggingface/jinja";
import { foreignMessage } from "../io/json_codec.ts";

export type TemplateBudget = {
  /** Expressions and statements evaluated; also the longest `range(...)` allowed. */
  readonly maxSteps: number;
  readonly maxMilliseconds: number;
  /** Characters of the rendered text, and of any string built on the way. */
  readonly maxOutputChars: number;
};

/** Far above any chat a model's context holds: Qwen3's template renders 3,000 messages within it. */
export const DEFAULT_TEMPLATE_BUDGET: TemplateBudget = Object.freeze({
  maxSteps: 1_000_000,
  maxMilliseconds: 2_000,
  maxOutputChars: 4_000_000,
});

type Statement = Parameters<Interpreter["evaluate"]>[0];
type RuntimeValue = ReturnType<Interpreter["evaluate"]>;

class BudgetExceeded extends Error {}

/** How long `range(start, stop, step)` is, as Python counts it. */
const rangeLength = (start: number, stop: number, step: number): number =>
  step > 0
    ? Math.max(0, Math.ceil((stop - start) / step))
    : Math.max(0, Math.ceil((start - stop) / -step));

const budgetedRange =
  (maxItems: number) => (first: number, second?: number, step = 1): number[] => {
    const [start, stop] = second === undefined ? [0, first] : [first, second];
    if (![start, stop, step].every(Number.isInteger)) throw new Error("range() takes integers");
    if (step === 0) throw new Error("range() step must not be zero");
    const length = rangeLength(start, stop, step);
    if (length > maxItems) {
      throw new BudgetExceeded(`range() of ${length} items is longer than ${maxItems} steps`);
    }
    return Array.from({ length }, (_, i) => start + i * step);
  };

/** `strftime_now` as transformers provides it, for the directives templates use. */
const strftimeNow = (format: string): string => {
  const now = new Date();
  const pad = (n: number) => String(n).padStart(2, "0");
  const month = (style: "short" | "long") =>
    new Intl.DateTimeFormat("en-US", { month: style }).format(now);
  const fields: Record<string, () => string> = {
    "%Y": () => String(now.getFullYear()),
    "%m": () => pad(now.getMonth() + 1),
    "%d": () => pad(now.getDate()),
    "%b": () => month("short"),
    "%B": () => month("long"),
    "%H": () => pad(now.getHours()),
    "%M": () => pad(now.getMinutes()),
    "%%": () => "%",
  };
  return format.replace(/%[YmdbBHM%]/g, (directive) => fields[directive]());
};

type LoopNode = { readonly type: string; readonly iterable: { type: string; lhs?: unknown } };

/** The node a for loop iterates over (for `x in xs if test`, the `xs`). */
const loopIterable = (loop: LoopNode): unknown =>
  loop.iterable.type === "SelectExpression" ? loop.iterable.lhs : loop.iterable;

/**
 * The library's interpreter, checking the budget at every evaluation. A loop also costs one
 * step per item, charged when its list is evaluated: a loop with an empty body evaluates
 * nothing per item, and nested ones would otherwise run 10^10 times for free.
 */
class BudgetedInterpreter extends Interpreter {
  #steps = 0;
  readonly #budget: TemplateBudget;
  readonly #deadline: number;
  readonly #iterables = new Set<unknown>();

  constructor(env: Environment, budget: TemplateBudget) {
    super(env);
    this.#budget = budget;
    this.#deadline = performance.now() + budget.maxMilliseconds;
  }

  #charge(steps: number): void {
    const { maxSteps, maxMilliseconds } = this.#budget;
    const before = this.#steps;
    this.#steps += steps;
    if (this.#steps > maxSteps) throw new BudgetExceeded(`more than ${maxSteps} steps`);
    // The clock is read once per 1024 steps only: cheap, and soon enough.
    if (before >> 10 !== this.#steps >> 10 && performance.now() > this.#deadline) {
      throw new BudgetExceeded(`more than ${maxMilliseconds} ms`);
    }
  }

  override evaluate(statement: Statement, environment: Environment): RuntimeValue {
    this.#charge(1);
    if (statement?.type === "For") this.#iterables.add(loopIterable(statement as LoopNode));
    const value = super.evaluate(statement, environment);
    const { maxOutputChars } = this.#budget;
    if (typeof value.value === "string" && value.value.length > maxOutputChars) {
      throw new BudgetExceeded(`a string of more than ${maxOutputChars} characters`);
    }
    if (this.#iterables.has(statement)) {
      const items = value.value;
      this.#charge(
        Array.isArray(items) ? items.length : items instanceof Map ? items.size : 0,
      );
    }
    return value;
  }
}

/**
 * Renders a parsed template with `context` as its variables. Throws an error naming `file`
 * when the template fails (e.g. its own `raise_exception`) or exceeds `budget`.
 */
export const renderTemplate = (
  template: Template,
  context: Readonly<Record<string, unknown>>,
  file: string,
  budget: TemplateBudget = DEFAULT_TEMPLATE_BUDGET,
): string => {
  const env = new Environment();
  const globals: Record<string, unknown> = {
    true: true,
    false: false,
    none: null,
    True: true,
    False: false,
    None: null,
    raise_exception: (message: unknown) => {
      throw new Error(String(message));
    },
    range: budgetedRange(budget.maxSteps),
    strftime_now: strftimeNow,
  };
  for (const [name, value] of Object.entries({ ...globals, ...context })) env.set(name, value);
  try {
    return String(new BudgetedInterpreter(env, budget).run(template.parsed).value);
  } catch (e) {
    const message = foreignMessage(e);
    throw new Error(
      e instanceof BudgetExceeded
        ? `${file}: chat template stopped: ${message} (the budget for one rendering)`
        : `${file}: chat template failed: ${message}`,
    );
  }
};
