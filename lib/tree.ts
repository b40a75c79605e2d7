/**
 * Pytrees: nested plain records and arrays whose leaves are values of interest (tensors,
 * numbers, host arrays). Paths are stable dotted strings ("layers.0.q.A"), later used as keys.
 * null and undefined are empty subtrees, so an adapter slot can be switched off.
 */

export type Path = string;

const isRecord = (x: unknown): x is Record<string, unknown> =>
  x !== null && typeof x === "object" && Object.getPrototypeOf(x) === Object.prototype;

/** Leaves in a stable order (arrays by index, records by key insertion order). */
export const treeFlatten = <L>(tree: unknown, isLeaf: (x: unknown) => x is L): [Path, L][] => {
  const out: [Path, L][] = [];
  const walk = (x: unknown, path: string): void => {
    if (isLeaf(x)) out.push([path, x]);
    else if (Array.isArray(x)) x.forEach((v, i) => walk(v, path ? `${path}.${i}` : `${i}`));
    else if (isRecord(x)) Object.entries(x).forEach(([k, v]) => walk(v, path ? `${path}.${k}` : k));
    else if (x !== null && x !== undefined) {
      throw new Error(`tree: unexpected leaf at "${path}": ${String(x)}`);
    }
  };
  walk(tree, "");
  return out;
};

/** The leaves of a tree, in treeFlatten's order. */
export const treeLeaves = <L>(tree: unknown, isLeaf: (x: unknown) => x is L): L[] =>
  treeFlatten(tree, isLeaf).map(([, l]) => l);

/** Same structure as `tree`, each leaf replaced by f(leaf, path). */
export const treeMap = <L, R>(
  tree: unknown,
  isLeaf: (x: unknown) => x is L,
  f: (leaf: L, path: Path) => R,
): unknown => {
  const walk = (x: unknown, path: string): unknown => {
    if (isLeaf(x)) return f(x, path);
    if (Array.isArray(x)) return x.map((v, i) => walk(v, path ? `${path}.${i}` : `${i}`));
    if (isRecord(x)) {
      return Object.fromEntries(
        Object.entries(x).map(([k, v]) => [k, walk(v, path ? `${path}.${k}` : k)]),
      );
    }
    return x;
  };
  return walk(tree, "");
};

/** Walks several trees of identical structure together; f gets the leaves at each position. */
export const treeZip = <L, R>(
  trees: readonly unknown[],
  isLeaf: (x: unknown) => x is L,
  f: (leaves: L[], path: Path) => R,
): unknown => {
  const others = trees.slice(1).map((t) => new Map(treeFlatten(t, isLeaf)));
  return treeMap(trees[0], isLeaf, (leaf, path) => {
    const rest = others.map((m, i) => {
      const v = m.get(path);
      if (v === undefined) throw new Error(`treeZip: tree ${i + 1} has no leaf at "${path}"`);
      return v;
    });
    return f([leaf, ...rest], path);
  });
};

/** Rebuilds `like`'s structure from a path -> leaf map (the inverse of treeFlatten). */
export const treeUnflatten = <L>(
  like: unknown,
  isLeaf: (x: unknown) => x is L,
  leaves: ReadonlyMap<Path, unknown>,
): unknown =>
  treeMap(like, isLeaf, (_, path) => {
    if (!leaves.has(path)) throw new Error(`treeUnflatten: no value for "${path}"`);
    return leaves.get(path);
  });
