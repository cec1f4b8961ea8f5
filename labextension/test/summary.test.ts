import assert from "node:assert/strict";
import { test } from "node:test";

import {
  type InspectJson,
  type RunSummary,
  isFinal,
  parameterRows,
  progress,
  runStates,
  stepRows,
  where,
} from "../src/summary";

const pipeline: InspectJson = {
  name: "iris",
  steps: [
    { name: "load", cells: [4, 5], after: [], outputs: ["data"] },
    {
      name: "split",
      cells: [9],
      after: ["load"],
      input_sources: { data: "load", seed: "load" },
      outputs: ["x"],
    },
  ],
  parameters: { seed: 7, solver: "lbfgs" },
  parameter_types: { seed: "int", solver: "str" },
  metrics: ["acc"],
};

test("steps link to their first cell and list what they receive", () => {
  const rows = stepRows(pipeline);
  assert.deepEqual(
    rows.map((r) => [r.name, r.cell, r.after]),
    [
      ["load", 4, []],
      ["split", 9, ["load"]],
    ],
  );
  assert.deepEqual(rows[1].receives, [
    { variable: "data", from: "load" },
    { variable: "seed", from: "load" },
  ]);
  assert.deepEqual(rows[0].sends, ["data"]);
});

test("parameters show their type and value", () => {
  assert.deepEqual(parameterRows(pipeline), [
    { name: "seed", type: "int", value: "7" },
    { name: "solver", type: "str", value: '"lbfgs"' },
  ]);
});

test("problems say where they are", () => {
  assert.equal(where({ message: "m", cell: 3, line: 2, step: "train", fix: null }), "cell 3, line 2 · step train");
  assert.equal(where({ message: "m", cell: null, line: null, step: null, fix: null }), "");
});

test("a run's states and progress", () => {
  const run: RunSummary = {
    id: "r1",
    state: "RUNNING",
    tasks: [
      { name: "load", state: "SUCCEEDED", attempts: 1 },
      { name: "split", state: "RUNNING", started: 5 },
    ],
  };
  assert.equal(progress(run), "running · 1/2 steps done");
  assert.equal(runStates(run).split.state, "RUNNING");
  assert.equal(runStates(run).split.started, 5);
  assert.equal(isFinal("RUNNING"), false);
  assert.equal(isFinal("FAILED"), true);
});
