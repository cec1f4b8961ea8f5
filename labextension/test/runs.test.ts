import assert from "node:assert/strict";
import { test } from "node:test";

import { ago, failedCell, problemSteps, runLine, runToFollow, shortId } from "../src/runs";

const runs = [
  { id: "r3", state: "RUNNING", created: "2026-01-01T12:00:50.000+00:00" },
  { id: "r2", state: "FAILED", created: "2026-01-01T11:58:00.000+00:00" },
  { id: "r1", state: "SUCCEEDED", created: "2026-01-01T09:00:00.000+00:00" },
];

test("opening a notebook shows its newest run", () => {
  assert.equal(runToFollow(runs, new Set(), true), "r3");
  assert.equal(runToFollow([], new Set(), true), null);
});

test("a run not seen before is followed, wherever it started; known runs are not", () => {
  assert.equal(runToFollow(runs, new Set(["r1", "r2", "r3"]), false), null);
  assert.equal(runToFollow(runs, new Set(["r1", "r2"]), false), "r3");
  // the user looks at an old run: it stays until a new one appears
  assert.equal(runToFollow(runs.slice(1), new Set(["r1", "r2"]), false), null);
});

test("recent runs say when they started and where, in few characters", () => {
  const now = Date.parse("2026-01-01T12:01:00.000+00:00");
  assert.equal(ago(runs[0].created, now), "10 s ago");
  assert.equal(ago(runs[1].created, now), "3 min ago");
  assert.equal(ago(runs[2].created, now), "3 h ago");
  assert.equal(ago("2025-12-30T12:01:00.000+00:00", now), "2 d ago");
  assert.equal(ago(null, now), "");
  assert.equal(runLine(runs[1], now), "r2 · failed · 3 min ago");
  assert.equal(runLine({ ...runs[1], engine: "kfp" }, now), "r2 · failed · 3 min ago · kfp");
  assert.equal(shortId("20260101-120000-abcdef123456"), "20260101-1200…");
});

test("the failed cell is the innermost frame in the step's own cells", () => {
  const frames = [
    { cell: 5, line: 2, name: "step train" },
    { cell: 2, line: 7, name: "helper" }, // a functions cell, called from the step
  ];
  assert.equal(failedCell([5, 6], frames), 5);
  assert.equal(failedCell([5, 6], [{ cell: 6, line: 1 }, { cell: 5, line: 3 }]), 5);
  // only a functions cell in the traceback: that cell
  assert.equal(failedCell([5, 6], [{ cell: 2, line: 7 }]), 2);
  // no traceback (killed, a container step): the step's first cell
  assert.equal(failedCell([5, 6], []), 5);
  assert.equal(failedCell([], []), null);
});

test("problem steps are named once each", () => {
  assert.deepEqual(problemSteps([{ step: "a" }, { step: null }, { step: "a" }, { step: "b" }]), ["a", "b"]);
});
