/**
 * Python string semantics the reference reward code relies on, reproduced exactly:
 * `str.count`, `len` (code points) and `str.split()` (Python's whitespace set).
 */

/** Non-overlapping occurrences of a non-empty pattern, like Python's `str.count`. */
export const countOccurrences = (text: string, pattern: string): number => {
  let count = 0;
  for (let i = text.indexOf(pattern); i !== -1; i = text.indexOf(pattern, i + pattern.length)) {
    count++;
  }
  return count;
};

/** Length in code points, like Python's `len(str)` (JS `length` counts UTF-16 units). */
export const codePointLength = (text: string): number => {
  const pair = /[\ud800-\udbff][\udc00-\udfff]/g;
  let pairs = 0;
  while (pair.test(text)) pairs++;
  return text.length - pairs;
};

/**
 * Byte length of the Python whitespace character (`str.isspace()`) starting at `i` of
 * UTF-8 `b`, or 0. (JS `\s` differs: Python adds \x1c-\x1f and \x85, JS adds \ufeff.)
 */
const spaceAt = (b: Uint8Array, i: number): number => {
  const c = b[i];
  if (c <= 0x20) return c === 0x20 || (c >= 9 && c <= 13) || c >= 0x1c ? 1 : 0;
  if (c < 0xc2 || c > 0xe3) return 0;
  const c1 = b[i + 1];
  if (c === 0xc2) return c1 === 0x85 || c1 === 0xa0 ? 2 : 0;
  const c2 = b[i + 2];
  if (c === 0xe1) return c1 === 0x9a && c2 === 0x80 ? 3 : 0; // U+1680
  if (c === 0xe3) return c1 === 0x80 && c2 === 0x80 ? 3 : 0; // U+3000
  if (c !== 0xe2) return 0;
  if (c1 === 0x81) return c2 === 0x9f ? 3 : 0; // U+205F
  return c1 === 0x80 && (c2 <= 0x8a || c2 === 0xa8 || c2 === 0xa9 || c2 === 0xaf) &&
      c2 >= 0x80
    ? 3
    : 0; // U+2000-200A, U+2028, U+2029, U+202F
};

/** Whether b[a0, a1) and b[b0, b1) hold the same bytes. */
const sameSpan = (b: Uint8Array, a0: number, a1: number, b0: number, b1: number): boolean => {
  if (a1 - a0 !== b1 - b0) return false;
  for (let k = 0; k < a1 - a0; k++) if (b[a0 + k] !== b[b0 + k]) return false;
  return true;
};

const utf8 = new TextEncoder();

/**
 * The words of Python's argument-less `str.split()`, as dense ids (equal words, equal ids).
 * Words are interned in an open-addressing table keyed by a hash computed while scanning
 * the UTF-8 bytes and verified byte by byte, so megabytes split without a string per word.
 * (Bytes, not `charCodeAt`: once any library touches `String.prototype`, V8 runs
 * `charCodeAt` loops several times slower, and the compute engine does.)
 */
export const wordIds = (
  text: string,
): { readonly ids: Int32Array; readonly vocabulary: number } => {
  const bytes = utf8.encode(text);
  const ids = new Int32Array((bytes.length >> 1) + 1); // words need a separator each
  let count = 0;
  const starts: number[] = [];
  const ends: number[] = [];
  const hashes: number[] = [];
  let slots = new Int32Array(64).fill(-1); // word id per slot, -1 when empty
  const insert = (table: Int32Array, id: number) => {
    let k = hashes[id] & (table.length - 1);
    while (table[k] !== -1) k = (k + 1) & (table.length - 1);
    table[k] = id;
  };
  let start = -1;
  let hash = 0;
  for (let i = 0; i <= bytes.length;) {
    const space = i < bytes.length ? spaceAt(bytes, i) : 1;
    if (space === 0) {
      if (start < 0) {
        start = i;
        hash = 0x811c9dc5;
      }
      hash = Math.imul(hash ^ bytes[i], 0x01000193); // FNV-1a
      i++;
      continue;
    }
    if (start >= 0) {
      let k = hash & (slots.length - 1);
      let id = slots[k];
      while (
        id !== -1 && (hashes[id] !== hash || !sameSpan(bytes, starts[id], ends[id], start, i))
      ) {
        k = (k + 1) & (slots.length - 1);
        id = slots[k];
      }
      if (id === -1) {
        id = starts.push(start) - 1;
        ends.push(i);
        hashes.push(hash);
        slots[k] = id;
        if (2 * starts.length > slots.length) { // keep the load under one half
          const grown = new Int32Array(slots.length * 2).fill(-1);
          for (let w = 0; w < starts.length; w++) insert(grown, w);
          slots = grown;
        }
      }
      ids[count++] = id;
      start = -1;
    }
    i += space;
  }
  return { ids: ids.subarray(0, count), vocabulary: starts.length };
};
