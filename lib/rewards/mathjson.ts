/**
 * Numeric values of MathJSON (the compute engine's parse output) in complex machine
 * arithmetic, with each free variable bound to a number: a small interpreter over an
 * allowlist of operators, so that sampling an answer costs microseconds and cannot run long
 * (the engine's own `subs().N()` costs milliseconds per point). Null for anything outside
 * the allowlist or undefined at the point.
 */

/** A complex number as [re, im]. */
export type Complex = readonly [number, number];

type Json = unknown;

const constants: Readonly<Record<string, Complex>> = {
  Pi: [Math.PI, 0],
  ExponentialE: [Math.E, 0],
  ImaginaryUnit: [0, 1],
  PositiveInfinity: [Infinity, 0],
  NegativeInfinity: [-Infinity, 0],
  Half: [0.5, 0],
};

export const add = (a: Complex, b: Complex): Complex => [a[0] + b[0], a[1] + b[1]];
export const sub = (a: Complex, b: Complex): Complex => [a[0] - b[0], a[1] - b[1]];
export const mul = (a: Complex, b: Complex): Complex =>
  b[1] === 0 && a[1] === 0
    ? [a[0] * b[0], 0]
    : [a[0] * b[0] - a[1] * b[1], a[0] * b[1] + a[1] * b[0]];
export const div = (a: Complex, b: Complex): Complex => {
  if (a[1] === 0 && b[1] === 0) return [a[0] / b[0], 0];
  const d = b[0] * b[0] + b[1] * b[1];
  return [(a[0] * b[0] + a[1] * b[1]) / d, (a[1] * b[0] - a[0] * b[1]) / d];
};
const exp = ([re, im]: Complex): Complex =>
  im === 0 ? [Math.exp(re), 0] : [Math.exp(re) * Math.cos(im), Math.exp(re) * Math.sin(im)];
const log = ([re, im]: Complex): Complex =>
  im === 0 && re >= 0 ? [Math.log(re), 0] : [Math.log(Math.hypot(re, im)), Math.atan2(im, re)];

const pow = (a: Complex, b: Complex): Complex => {
  if (b[1] === 0 && Number.isInteger(b[0]) && Math.abs(b[0]) <= 64) {
    let result: Complex = [1, 0];
    for (let k = 0; k < Math.abs(b[0]); k++) result = mul(result, a);
    return b[0] < 0 ? div([1, 0], result) : result;
  }
  if (a[1] === 0 && b[1] === 0 && a[0] >= 0) return [Math.pow(a[0], b[0]), 0];
  if (a[0] === 0 && a[1] === 0) return [0, 0];
  return exp(mul(b, log(a)));
};

/** A real root of a real number where one exists (∛−8 = −2), else the principal root. */
const root = (a: Complex, n: Complex): Complex => {
  if (a[1] === 0 && n[1] === 0 && a[0] < 0 && Number.isInteger(n[0]) && n[0] % 2 === 1) {
    return [-Math.pow(-a[0], 1 / n[0]), 0];
  }
  return pow(a, div([1, 0], n));
};

const sin = ([x, y]: Complex): Complex =>
  y === 0 ? [Math.sin(x), 0] : [Math.sin(x) * Math.cosh(y), Math.cos(x) * Math.sinh(y)];
const cos = ([x, y]: Complex): Complex =>
  y === 0 ? [Math.cos(x), 0] : [Math.cos(x) * Math.cosh(y), -Math.sin(x) * Math.sinh(y)];

/** A real function lifted to complex arguments that happen to be real (else NaN). */
const real = (f: (x: number) => number) => ([x, y]: Complex): Complex =>
  y === 0 ? [f(x), 0] : [NaN, NaN];

const factorial = (x: number) => {
  if (!Number.isInteger(x) || x < 0 || x > 170) return NaN;
  let f = 1;
  for (let k = 2; k <= x; k++) f *= k;
  return f;
};

const unary: Readonly<Record<string, (a: Complex) => Complex>> = {
  Negate: ([re, im]) => [-re, -im],
  Sqrt: (a) => root(a, [2, 0]),
  Square: (a) => mul(a, a),
  Exp: exp,
  Ln: log,
  Lb: (a) => div(log(a), [Math.LN2, 0]),
  Lg: (a) => div(log(a), [Math.LN10, 0]),
  Abs: ([re, im]) => [Math.hypot(re, im), 0],
  Sin: sin,
  Cos: cos,
  Tan: (a) => div(sin(a), cos(a)),
  Cot: (a) => div(cos(a), sin(a)),
  Sec: (a) => div([1, 0], cos(a)),
  Csc: (a) => div([1, 0], sin(a)),
  Arcsin: real(Math.asin),
  Arccos: real(Math.acos),
  Arctan: real(Math.atan),
  Arccot: real((x) => Math.atan(1 / x)),
  Arcsec: real((x) => Math.acos(1 / x)),
  Arccsc: real((x) => Math.asin(1 / x)),
  Sinh: real(Math.sinh),
  Cosh: real(Math.cosh),
  Tanh: real(Math.tanh),
  Coth: real((x) => 1 / Math.tanh(x)),
  Sech: real((x) => 1 / Math.cosh(x)),
  Csch: real((x) => 1 / Math.sinh(x)),
  Arsinh: real(Math.asinh),
  Arcosh: real(Math.acosh),
  Artanh: real(Math.atanh),
  Floor: real(Math.floor),
  Ceil: real(Math.ceil),
  Round: real(Math.round),
  Sign: real(Math.sign),
  Factorial: real(factorial),
  Delimiter: (a) => a,
};

const variadic: Readonly<Record<string, (args: Complex[]) => Complex>> = {
  Add: (args) => args.reduce(add, [0, 0]),
  Multiply: (args) => args.reduce(mul, [1, 0]),
  Subtract: ([a, b]) => (b === undefined ? [-a[0], -a[1]] : sub(a, b)),
  Divide: ([a, b]) => div(a, b),
  Rational: ([a, b]) => div(a, b),
  Power: ([a, b]) => pow(a, b),
  Root: ([a, n]) => root(a, n),
  Log: ([a, base]) => div(log(a), log(base ?? [10, 0])),
  Complex: ([re, im]) => [re[0], (im ?? [0, 0])[0]],
  Max: (args) =>
    args.every((a) => a[1] === 0) ? [Math.max(...args.map((a) => a[0])), 0] : [NaN, NaN],
  Min: (args) =>
    args.every((a) => a[1] === 0) ? [Math.min(...args.map((a) => a[0])), 0] : [NaN, NaN],
};

const arities: Readonly<Record<string, readonly [number, number]>> = {
  Subtract: [1, 2],
  Divide: [2, 2],
  Rational: [2, 2],
  Power: [2, 2],
  Root: [2, 2],
  Log: [1, 2],
  Complex: [1, 2],
};

/** The free variables of a MathJSON expression (symbols that are not known constants). */
export const unknownsOf = (json: Json, found = new Set<string>()): Set<string> => {
  if (typeof json === "string" && !(json in constants)) found.add(json);
  else if (Array.isArray(json)) { for (const arg of json.slice(1)) unknownsOf(arg, found); }
  return found;
};

const literal = (json: Json): Complex | null => {
  if (typeof json === "number") return [json, 0];
  if (typeof json === "object" && json !== null && "num" in json) {
    const x = Number((json as { num: unknown }).num);
    return Number.isNaN(x) ? null : [x, 0];
  }
  return null;
};

/**
 * The value of `json` with variables bound by `at`; null when an operator is not in the
 * allowlist, a variable is unbound, or the value is undefined (NaN).
 */
export const evaluateJson = (json: Json, at: ReadonlyMap<string, number>): Complex | null => {
  const value = literal(json);
  if (value !== null) return value;
  if (typeof json === "string") {
    const bound = at.get(json);
    return bound !== undefined ? [bound, 0] : constants[json] ?? null;
  }
  if (!Array.isArray(json) || typeof json[0] !== "string") return null;
  const [op, ...rest] = json as [string, ...Json[]];
  const args: Complex[] = [];
  for (const arg of rest) {
    const v = evaluateJson(arg, at);
    if (v === null) return null;
    args.push(v);
  }
  const [lo, hi] = arities[op] ?? [1, Infinity];
  if (args.length < lo || args.length > hi) return null;
  const f = unary[op];
  const result = f ? (args.length === 1 ? f(args[0]) : null) : variadic[op]?.(args) ?? null;
  return result === null || Number.isNaN(result[0]) || Number.isNaN(result[1]) ? null : result;
};
