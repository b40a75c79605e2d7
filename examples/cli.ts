/**
 * What the example programs share at the edge: flag parsing with one-line errors, a progress
 * bar, and a main wrapper that turns errors into exit codes instead of stack traces.
 */
import cliProgress from "cli-progress";
import { parseArgs, type ParseArgsConfig } from "node:util";

/**
 * Strict flag parsing; node:util's multi-line complaints become one-line usage errors, keeping its
 * hint for a value that starts with a dash (`--steps -1` must be written `--steps=-1`).
 */
export const parseFlags = <O extends NonNullable<ParseArgsConfig["options"]>>(
  argv: readonly string[],
  options: O,
) => {
  try {
    return parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }).values;
  } catch (e) {
    const [first, ...rest] = (e as Error).message.split("\n");
    const dashHint = rest.find((line) => line.includes("=-XYZ"));
    throw new UsageError(dashHint ? `${first} ${dashHint}` : first);
  }
};

/** A mistake in the command line: reported in one line, exit code 2. */
export class UsageError extends Error {}

export const integerFlag = (
  flag: string,
  text: string | undefined,
  min: number,
): number | undefined => {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!/^-?\d+$/.test(text.trim()) || !Number.isSafeInteger(value) || value < min) {
    throw new UsageError(`--${flag} must be an integer >= ${min}, got "${text}"`);
  }
  return value;
};

export const numberFlag = (
  flag: string,
  text: string | undefined,
  accept: (x: number) => boolean,
  expected: string,
): number | undefined => {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (text.trim() === "" || !Number.isFinite(value) || !accept(value)) {
    throw new UsageError(`--${flag} must be ${expected}, got "${text}"`);
  }
  return value;
};

export const choiceFlag = <T extends string>(
  flag: string,
  text: string | undefined,
  choices: readonly T[],
): T | undefined => {
  if (text === undefined || (choices as readonly string[]).includes(text)) {
    return text as T | undefined;
  }
  throw new UsageError(`--${flag} must be one of ${choices.join(", ")}, got "${text}"`);
};

/** A progress bar on stderr with named live fields (e.g. reward, kl); plain lines when not a TTY. */
export const progressBar = (label: string, fields: readonly string[]) => {
  const format = [
    `${label} |{bar}| {value}/{total}`,
    ...fields.map((f) => `${f} {${f}}`),
    "ETA {eta_formatted}",
  ]
    .join(" | ");
  const bar = new cliProgress.SingleBar({
    format,
    stream: process.stderr,
    noTTYOutput: true,
    notTTYSchedule: 10_000,
    etaBuffer: 20,
    hideCursor: true,
  }, cliProgress.Presets.shades_classic);
  const blank = Object.fromEntries(fields.map((f) => [f, "-"]));
  // Training loops await only settled promises, which starve cli-progress's redraw timer:
  // render from update() instead, at most every 100 ms on a terminal and 10 s in a log.
  const every = process.stderr.isTTY ? 100 : 10_000;
  let last = 0;
  return {
    start: (total: number, done = 0) => bar.start(total, done, blank),
    update: (done: number, values: Record<string, string | number> = {}) => {
      bar.update(done, values);
      const now = Date.now();
      if (now - last >= every || done >= bar.getTotal()) {
        last = now;
        bar.render();
      }
    },
    stop: () => bar.stop(),
  };
};

/**
 * Runs a program: `parse` returns its settings (null after printing --help), `run` does the work.
 * Usage errors exit 2 with one line, other errors exit 1 with the message, never a stack trace
 * (TINA_DEBUG=1 prints it). Exits explicitly: a loaded tfjs backend may keep the event loop alive.
 */
export const runMain = async <S>(
  name: string,
  parse: (argv: readonly string[]) => S | null,
  run: (settings: S) => Promise<void>,
): Promise<never> => {
  let code = 0;
  try {
    const settings = parse(process.argv.slice(2));
    if (settings !== null) await run(settings);
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    console.error(`${name}: ${message}${e instanceof UsageError ? " (see --help)" : ""}`);
    if (process.env.TINA_DEBUG && e instanceof Error) console.error(e.stack);
    code = e instanceof UsageError ? 2 : 1;
  }
  process.exit(code);
};
