import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { test } from "node:test";

import {
  buildRunRequest,
  changedParams,
  formatParam,
  initialChoices,
  lastChoices,
  paramSpecs,
  quickProblem,
  refusedParameters,
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

test("only a number that is not one is refused as it is typed; the server judges the rest", () => {
  assert.equal(quickProblem("int", " 42 "), null);
  assert.equal(quickProblem("int", "-7"), null);
  for (const bad of ["4.5", "abc", "", "1e3"]) assert.ok(quickProblem("int", bad), bad);
  assert.match(quickProblem("int", "five") ?? "", /"five" is not a whole number/);
  assert.equal(quickProblem("float", "1e-3"), null);
  assert.equal(quickProblem("float", "3"), null);
  for (const bad of ["nan", "inf", "0x10", "", "1.2.3"]) assert.ok(quickProblem("float", bad), bad);
  // lists, dicts and text go to the server as typed (it also reads Python literals)
  assert.equal(quickProblem("list", "[1, 'a']"), null);
  assert.equal(quickProblem("dict", "{depth: 2}"), null);
  assert.equal(quickProblem("str", ""), null);
});

test("the server's refusals are put at the parameters they name", () => {
  const specs = paramSpecs(inspect);
  const said = {
    layers: "parameter 'layers' (list): '[1' is not a list",
    rate: "parameter 'rate' is nan, which JSON cannot hold",
  };
  assert.deepEqual(refusedParameters(said, specs), said);
  // a name the form has no field for is left to the message
  assert.deepEqual(refusedParameters({ other: "unknown parameter 'other'", ...said }, specs), said);
  assert.equal(refusedParameters({ other: "unknown parameter 'other'" }, specs), null);
  assert.equal(refusedParameters(undefined, specs), null);
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
  // as typed: the server parses them as the CLI parses -p NAME=VALUE
  assert.deepEqual(changed.request, {
    path: "nb.ipynb",
    params: { n: "5", verbose: true, layers: "[16]" },
    no_cache: true,
    keep_going: false,
    host_exec: true,
  });
});

test("a number that is not one stops the request and says which field to fix", () => {
  const specs = paramSpecs(inspect);
  const c = initialChoices(specs, null);
  c.values.n = "three";
  c.values.rate = "";
  c.values.opts = "{'depth': 3}";
  const built = buildRunRequest("nb.ipynb", specs, c);
  assert.equal(built.request, null);
  assert.deepEqual(Object.keys(built.errors ?? {}).sort(), ["n", "rate"]);
  assert.match(built.errors?.n ?? "", /"three" is not a whole number/);
  // fixed, the Python literal goes to the server to read
  c.values.n = "4";
  c.values.rate = "0.5";
  assert.deepEqual(buildRunRequest("nb.ipynb", specs, c).request?.params, { n: "4", opts: "{'depth': 3}" });
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

test("an outline's parameters are typed as the full inspect's are", () => {
  // `GET inspect` of a notebook with a component URL it did not fetch (server/components.py)
  const outline = {
    name: "demo",
    steps: [{ name: "a", kind: "python", cells: [2], after: [] }],
    outline: true,
    message: "1 component URL(s) not fetched on inspect: ...",
    parameters: { year: "2024", n: 3 },
    parameter_types: { year: "str", n: "int" },
  };
  assert.deepEqual(
    paramSpecs(outline).map((s) => [s.name, s.type, s.default]),
    [
      ["year", "str", "2024"],
      ["n", "int", 3],
    ],
  );
});

test("the values sent are the changed fields as typed: a str stays text", () => {
  const specs = paramSpecs({
    parameters: { year: "2023", n: 3, verbose: false },
    parameter_types: { year: "str", n: "int", verbose: "bool" },
  });
  const values = initialChoices(specs).values;
  assert.deepEqual(changedParams(specs, values), { params: {}, errors: null });
  // `2024` typed into a str parameter is the text "2024", never the number
  assert.deepEqual(changedParams(specs, { ...values, year: "2024" }).params, { year: "2024" });
  assert.deepEqual(changedParams(specs, { ...values, n: "4", verbose: true }).params, { n: "4", verbose: true });
  assert.match(changedParams(specs, { ...values, n: "4.5" }).errors?.n ?? "", /not a whole number/);
});

test("an int too large for a JavaScript number keeps its digits and is not sent unchanged", () => {
  // JSON.rawJSON is in browsers, and in Node from 21 (20 has it behind a flag)
  const flag = "rawJSON" in JSON ? [] : ["--harmony-json-parse-with-source"];
  const script = `
    const { parseJson } = require(${JSON.stringify(join(__dirname, "..", "src", "json.js"))});
    const r = require(${JSON.stringify(join(__dirname, "..", "src", "runoptions.js"))});
    const specs = r.paramSpecs(parseJson('{"parameters": {"big": 12345678901234567890, "n": 1},'
      + ' "parameter_types": {"big": "int", "n": "int"}}'));
    const values = r.initialChoices(specs).values;
    console.log(JSON.stringify({
      shown: values.big,
      untouched: r.changedParams(specs, values).params,
      other: r.changedParams(specs, { ...values, n: "2" }).params,
      changed: r.changedParams(specs, { ...values, big: "12345678901234567891" }).params,
    }));`;
  const out = execFileSync(process.execPath, [...flag, "-e", script], { encoding: "utf8" });
  assert.deepEqual(JSON.parse(out), {
    shown: "12345678901234567890",
    untouched: {},
    other: { n: "2" },
    changed: { big: "12345678901234567891" },
  });
  // where numbers are read as numbers, the rounded default is still not sent back
  const rounded = paramSpecs({ parameters: { big: 12345678901234567890 }, parameter_types: { big: "int" } });
  assert.deepEqual(changedParams(rounded, initialChoices(rounded).values).params, {});
});
