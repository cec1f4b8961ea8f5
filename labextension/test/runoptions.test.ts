import assert from "node:assert/strict";
import { test } from "node:test";

import {
  buildRunRequest,
  formatParam,
  initialChoices,
  lastChoices,
  paramSpecs,
  parseParam,
  rememberChoices,
  sameValue,
} from "../src/runoptions";

// as `GET inspect` answers for a notebook with these pipeline parameters
const inspect = {
  parameters: {
    n: 3,
    rate: 0.5,
    whole: 2.0,
    verbose: false,
    label: "iris",
    layers: [8, 4],
    opts: { depth: 2, name: "x" },
  },
  parameter_types: {
    n: "int",
    rate: "float",
    whole: "float",
    verbose: "bool",
    label: "str",
    layers: "list",
    opts: "dict",
  },
};

test("every parameter gets its declared type, in notebook order", () => {
  const specs = paramSpecs(inspect);
  assert.deepEqual(
    specs.map((s) => [s.name, s.type]),
    Object.entries(inspect.parameter_types),
  );
  // without declared types (an older server), the default's type is used
  assert.deepEqual(
    paramSpecs({ parameters: { a: 1, b: 1.5, c: true, d: "s", e: [], f: {} } }).map((s) => s.type),
    ["int", "float", "bool", "str", "list", "dict"],
  );
});

test("defaults are shown as the user would type them", () => {
  const specs = paramSpecs(inspect);
  const c = initialChoices(specs, null);
  assert.deepEqual(c.values, {
    n: "3",
    rate: "0.5",
    whole: "2.0",
    verbose: false,
    label: "iris",
    layers: "[8,4]",
    opts: '{"depth":2,"name":"x"}',
  });
  assert.deepEqual([c.no_cache, c.keep_going, c.host_exec], [false, false, false]);
  assert.equal(formatParam("str", "a b"), "a b");
});

test("values are parsed as the CLI parses -p NAME=VALUE, with a reason when they are not", () => {
  assert.deepEqual(parseParam("int", " 42 "), { value: 42 });
  assert.deepEqual(parseParam("int", "-7"), { value: -7 });
  for (const bad of ["4.5", "abc", "", "1e3"]) assert.ok("error" in parseParam("int", bad), bad);
  assert.deepEqual(parseParam("float", "1e-3"), { value: 0.001 });
  assert.deepEqual(parseParam("float", "3"), { value: 3 });
  for (const bad of ["nan", "inf", "0x10", "", "1.2.3"]) {
    assert.ok("error" in parseParam("float", bad), bad);
  }
  assert.deepEqual(parseParam("str", " keep spaces "), { value: " keep spaces " });
  assert.deepEqual(parseParam("list", '[1, "a"]'), { value: [1, "a"] });
  assert.ok("error" in parseParam("list", '{"a": 1}'));
  assert.ok("error" in parseParam("list", "[1, 2"));
  assert.deepEqual(parseParam("dict", '{"a": [1]}'), { value: { a: [1] } });
  assert.ok("error" in parseParam("dict", "[1]"));
  assert.deepEqual(parseParam("bool", "yes"), { value: true });
});

test("only parameters that differ from their defaults are sent, with the switches", () => {
  const specs = paramSpecs(inspect);
  const c = initialChoices(specs, null);
  const same = buildRunRequest("nb.ipynb", specs, c);
  assert.deepEqual(same.request, {
    path: "nb.ipynb",
    params: {},
    no_cache: false,
    keep_going: false,
    host_exec: false,
  });
  // the same values written differently are still the defaults
  c.values.whole = "2";
  c.values.opts = '{ "name": "x", "depth": 2 }';
  c.values.n = "5";
  c.values.verbose = true;
  c.values.layers = "[16]";
  c.no_cache = true;
  c.host_exec = true;
  const changed = buildRunRequest("nb.ipynb", specs, c);
  assert.deepEqual(changed.request, {
    path: "nb.ipynb",
    params: { n: 5, verbose: true, layers: [16] },
    no_cache: true,
    keep_going: false,
    host_exec: true,
  });
});

test("bad values stop the request and say which field to fix", () => {
  const specs = paramSpecs(inspect);
  const c = initialChoices(specs, null);
  c.values.n = "three";
  c.values.opts = "{depth: 2}";
  const built = buildRunRequest("nb.ipynb", specs, c);
  assert.equal(built.request, null);
  assert.deepEqual(Object.keys(built.errors ?? {}).sort(), ["n", "opts"]);
  assert.match(built.errors?.n ?? "", /"three" is not a whole number/);
  assert.match(built.errors?.opts ?? "", /JSON/);
});

test("the last choices come back for the same notebook, not for another", () => {
  const specs = paramSpecs(inspect);
  const c = initialChoices(specs, null);
  c.values.n = "9";
  c.keep_going = true;
  rememberChoices("a.ipynb", specs, c);
  const again = initialChoices(specs, lastChoices("a.ipynb"));
  assert.equal(again.values.n, "9");
  assert.equal(again.keep_going, true);
  assert.equal(again.values.label, "iris");
  assert.equal(lastChoices("b.ipynb"), null);
  assert.equal(initialChoices(specs, lastChoices("b.ipynb")).values.n, "3");
});

test("a parameter left at its default follows the notebook's new default", () => {
  const specs = paramSpecs(inspect);
  rememberChoices("c.ipynb", specs, initialChoices(specs, null));
  const edited = paramSpecs({ ...inspect, parameters: { ...inspect.parameters, n: 4 } });
  assert.equal(initialChoices(edited, lastChoices("c.ipynb")).values.n, "4");
  // and a remembered value of a parameter whose type changed is dropped
  const c = initialChoices(specs, null);
  c.values.n = "9";
  rememberChoices("d.ipynb", specs, c);
  const retyped = paramSpecs({
    parameters: { ...inspect.parameters, n: "x" },
    parameter_types: { ...inspect.parameter_types, n: "str" },
  });
  assert.equal(initialChoices(retyped, lastChoices("d.ipynb")).values.n, "x");
});

test("sameValue compares JSON values, not their spelling", () => {
  assert.ok(sameValue({ a: [1, { b: 2 }] }, { a: [1, { b: 2 }] }));
  assert.ok(!sameValue({ a: 1 }, { a: 1, b: 2 }));
  assert.ok(!sameValue([1], { 0: 1 }));
  assert.ok(!sameValue("1", 1));
});
