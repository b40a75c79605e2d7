import { test } from "uvu";
import * as assert from "uvu/assert";
import { treeFlatten, treeLeaves, treeMap, treeUnflatten, treeZip } from "../lib/tree.ts";

const isNumber = (x: unknown): x is number => typeof x === "number";

const params = {
  embed: 1,
  layers: [{ q: { A: 2, B: 3 }, v: null }, { q: { A: 4, B: 5 }, v: { A: 6, B: 7 } }],
  head: undefined,
};

test("treeFlatten: dotted paths in a stable order; null and undefined are empty", () => {
  assert.equal(treeFlatten(params, isNumber), [
    ["embed", 1],
    ["layers.0.q.A", 2],
    ["layers.0.q.B", 3],
    ["layers.1.q.A", 4],
    ["layers.1.q.B", 5],
    ["layers.1.v.A", 6],
    ["layers.1.v.B", 7],
  ]);
  assert.equal(treeLeaves(params, isNumber), [1, 2, 3, 4, 5, 6, 7]);
  assert.equal(treeFlatten(null, isNumber), []);
  assert.equal(treeFlatten(9, isNumber), [["", 9]]);
});

test("treeFlatten: an unexpected leaf names its path", () => {
  assert.throws(() => treeFlatten({ a: [1, "x"] }, isNumber), /tree: unexpected leaf at "a.1": x/);
});

test("treeMap: keeps structure and null slots, passes paths", () => {
  const seen: string[] = [];
  const doubled = treeMap(params, isNumber, (x, path) => {
    seen.push(path);
    return x * 2;
  });
  assert.equal(doubled, {
    embed: 2,
    layers: [{ q: { A: 4, B: 6 }, v: null }, { q: { A: 8, B: 10 }, v: { A: 12, B: 14 } }],
    head: undefined,
  });
  assert.equal(seen, treeFlatten(params, isNumber).map(([p]) => p));
  assert.equal(params.embed, 1, "the input is not mutated");
});

test("treeZip: combines leaves at equal paths, whatever the key order", () => {
  const a = { x: 1, y: [2, 3] };
  const b = { y: [20, 30], x: 10 };
  assert.equal(treeZip([a, b], isNumber, ([p, q], path) => `${path}=${p + q}`), {
    x: "x=11",
    y: ["y.0=22", "y.1=33"],
  });
});

test("treeZip: a missing leaf names the tree and the path", () => {
  assert.throws(
    () => treeZip([{ a: 1, b: [2] }, { a: 1, b: null }], isNumber, ([p]) => p),
    /treeZip: tree 1 has no leaf at "b.0"/,
  );
});

test("treeUnflatten inverts treeFlatten", () => {
  const flat = treeFlatten(params, isNumber);
  const rebuilt = treeUnflatten(params, isNumber, new Map(flat.map(([p, x]) => [p, x * 10])));
  assert.equal(treeLeaves(rebuilt, isNumber), [10, 20, 30, 40, 50, 60, 70]);
  assert.equal((rebuilt as typeof params).layers[0].v, null);
  assert.throws(
    () => treeUnflatten(params, isNumber, new Map([["embed", 1]])),
    /treeUnflatten: no value for "layers.0.q.A"/,
  );
});

test.run();
