/**
 * Exact rational values of purely numeric LaTeX leaves (`12`, `-\frac{3}{4}`, `2\frac13`,
 * `10^{100}+1`, `0.25 \cdot 8`), in bigint, so that numbers beyond float64 compare exactly as
 * Math-Verify's sympy does. Anything else (symbols, roots, functions) is null and goes to the
 * compute engine. A small recursive-descent parser; results are capped in size so that
 * `9^{9^{9}}` is refused, not computed.
 */

/** A reduced fraction with a positive denominator. */
export interface Rational {
  /** The numerator. */
  readonly num: bigint;
  /** The denominator, > 0. */
  readonly den: bigint;
}

// 10^4000 is far beyond any answer; bigger operands make a power or product too costly.
const maxBits = 16_000;
const maxTokens = 200;

const abs = (n: bigint) => (n < 0n ? -n : n);
const gcd = (a: bigint, b: bigint): bigint => {
  a = abs(a);
  b = abs(b);
  while (b !== 0n) [a, b] = [b, a % b];
  return a;
};
const bits = (n: bigint) => abs(n).toString(16).length * 4;

const rational = (num: bigint, den: bigint): Rational | null => {
  if (den === 0n) return null;
  if (den < 0n) [num, den] = [-num, -den];
  const g = gcd(num, den) || 1n;
  const r = { num: num / g, den: den / g };
  return bits(r.num) > maxBits || bits(r.den) > maxBits ? null : r;
};

const add = (a: Rational, b: Rational) => rational(a.num * b.den + b.num * a.den, a.den * b.den);
const sub = (a: Rational, b: Rational) => rational(a.num * b.den - b.num * a.den, a.den * b.den);
const mul = (a: Rational, b: Rational) => rational(a.num * b.num, a.den * b.den);
const div = (a: Rational, b: Rational) => rational(a.num * b.den, a.den * b.num);
const pow = (a: Rational, e: Rational): Rational | null => {
  if (e.den !== 1n) return null; // roots are not rational in general: the engine's job
  const n = abs(e.num);
  const size = Math.max(bits(a.num), bits(a.den));
  if (n > 100_000n || size * Number(n) > maxBits) return null;
  const p = rational(a.num ** n, a.den ** n);
  return p && (e.num < 0n ? div({ num: 1n, den: 1n }, p) : p);
};

/** A decimal literal (`12`, `0.25`, `.5`) as an exact fraction. */
export const parseDecimal = (text: string): Rational | null => {
  const m = /^(\d*)(?:\.(\d*))?$/.exec(text);
  if (!m || (m[1] === "" && !m[2])) return null;
  const fraction = m[2] ?? "";
  return rational(BigInt(m[1] + fraction || "0"), 10n ** BigInt(fraction.length));
};

const tokenPattern = /\s*(\d*\.\d+|\d+\.?|\\frac|\\cdot|\\times|\\div|[-+*/^{}()])/y;

const tokenize = (latex: string): string[] | null => {
  const tokens: string[] = [];
  tokenPattern.lastIndex = 0;
  while (tokenPattern.lastIndex < latex.length) {
    const at = tokenPattern.lastIndex;
    const m = tokenPattern.exec(latex);
    if (!m) return /^\s*$/.test(latex.slice(at)) ? tokens : null;
    tokens.push(m[1]);
    if (tokens.length > maxTokens) return null;
  }
  return tokens;
};

/** Parser state: the tokens and a cursor. Every rule returns null on anything unexpected. */
interface Cursor {
  readonly tokens: readonly string[];
  at: number;
}

const peek = (c: Cursor) => c.tokens[c.at];
const isNumber = (t: string | undefined) => t !== undefined && /^[\d.]/.test(t);

const expression = (c: Cursor): Rational | null => {
  let value = term(c);
  while (value && (peek(c) === "+" || peek(c) === "-")) {
    const op = c.tokens[c.at++];
    const right = term(c);
    value = right && (op === "+" ? add(value, right) : sub(value, right));
  }
  return value;
};

const term = (c: Cursor): Rational | null => {
  let value = unary(c);
  while (value) {
    const op = peek(c);
    if (op === "*" || op === "\\cdot" || op === "\\times") {
      c.at++;
      const right = unary(c);
      value = right && mul(value, right);
    } else if (op === "/" || op === "\\div") {
      c.at++;
      const right = unary(c);
      value = right && div(value, right);
    } else return value;
  }
  return value;
};

const unary = (c: Cursor): Rational | null => {
  const sign = peek(c);
  if (sign === "-" || sign === "+") {
    c.at++;
    const value = unary(c);
    return value && (sign === "-" ? { num: -value.num, den: value.den } : value);
  }
  return power(c);
};

const power = (c: Cursor): Rational | null => {
  const base = mixedNumber(c);
  if (!base || peek(c) !== "^") return base;
  c.at++;
  const exponent = peek(c) === "{" || peek(c) === "(" ? atom(c) : digit(c);
  return exponent && pow(base, exponent);
};

/** `^23` means `^{2}3` in LaTeX: a bare exponent is one character. */
const digit = (c: Cursor): Rational | null => {
  const t = peek(c);
  if (t === undefined || !/^\d$/.test(t)) return null; // `2^10` is left to the engine
  c.at++;
  return parseDecimal(t);
};

const isInteger = (t: string | undefined) => t !== undefined && /^\d+$/.test(t);

/** `2\frac{1}{3}` and `4 4/9` are mixed numbers (2 + 1/3, 4 + 4/9), as Math-Verify reads them. */
const mixedNumber = (c: Cursor): Rational | null => {
  const whole = peek(c);
  const value = atom(c);
  if (!value || !isInteger(whole)) return value;
  if (peek(c) === "\\frac") {
    const fraction = atom(c);
    return fraction && fraction.num >= 0n ? add(value, fraction) : null;
  }
  const [p, slash, q] = c.tokens.slice(c.at, c.at + 3);
  if (isInteger(p) && slash === "/" && isInteger(q) && c.at + 3 === c.tokens.length) {
    c.at += 3;
    const fraction = div({ num: BigInt(p), den: 1n }, { num: BigInt(q), den: 1n });
    return fraction && add(value, fraction);
  }
  return value;
};

const group = (c: Cursor, close: string): Rational | null => {
  c.at++;
  const value = expression(c);
  if (peek(c) !== close) return null;
  c.at++;
  return value;
};

/** A `\frac` argument: a group or one digit (normalizing has braced `\frac12` already). */
const fracArgument = (c: Cursor): Rational | null => peek(c) === "{" ? group(c, "}") : digit(c);

const atom = (c: Cursor): Rational | null => {
  const t = peek(c);
  if (t === undefined) return null;
  if (t === "(") return group(c, ")");
  if (t === "{") return group(c, "}");
  if (t === "\\frac") {
    c.at++;
    const num = fracArgument(c);
    const den = num && fracArgument(c);
    return num && den && div(num, den);
  }
  if (isNumber(t)) {
    c.at++;
    return parseDecimal(t.endsWith(".") ? t.slice(0, -1) : t);
  }
  return null;
};

/** The exact value of a numeric LaTeX expression, or null when it is not purely numeric. */
export const exactValue = (latex: string): Rational | null => {
  const tokens = tokenize(latex);
  if (tokens === null || tokens.length === 0) return null;
  const cursor: Cursor = { tokens, at: 0 };
  const value = expression(cursor);
  return value && cursor.at === tokens.length ? value : null;
};

export const rationalsEqual = (a: Rational, b: Rational): boolean =>
  a.num === b.num && a.den === b.den;

/** Round half away from zero to `digits` decimals, as an exact fraction. */
export const roundRational = (a: Rational, digits: number): Rational => {
  const scale = 10n ** BigInt(digits);
  const scaled = a.num * scale;
  const q = (2n * abs(scaled) + a.den) / (2n * a.den);
  return rational(scaled < 0n ? -q : q, scale) ?? a;
};
