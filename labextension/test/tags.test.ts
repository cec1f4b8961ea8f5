import assert from "node:assert/strict";
import { test } from "node:test";

import { emptySettings, parseTags, roleLabel, stepNameProblem, writeTags } from "../src/tags";

test("a plain cell becomes a step with Kale's tags", () => {
  const s = { ...emptySettings(), role: "step" as const, name: "train", after: ["load", "split"] };
  assert.deepEqual(writeTags([], s), ["step:train", "prev:load", "prev:split"]);
});

test("every setting is written as the compiler reads it", () => {
  const s = {
    ...emptySettings(),
    role: "step" as const,
    name: "fit",
    image: "python:3.12",
    packages: ["numpy", "scikit-learn"],
    cpu: "2",
    memory: "4Gi",
    gpu: "1",
    retries: "3",
    timeout: "600",
    cache: "disabled" as const,
  };
  const tags = writeTags([], s);
  assert.deepEqual(tags, [
    "step:fit",
    "image:python:3.12",
    "packages:numpy",
    "packages:scikit-learn",
    "limit:cpu:2",
    "limit:memory:4Gi",
    "limit:nvidia.com/gpu:1",
    "retries:3",
    "timeout:600",
    "cache:disabled",
  ]);
  assert.deepEqual(parseTags(tags), s);
});

test("tags the editor does not manage are kept", () => {
  const old = ["step:a", "prev:b", "annotation:team:ml", "secret:s3:key:AWS_KEY", "my-own"];
  const s = parseTags(old);
  assert.equal(s.name, "a");
  assert.deepEqual(s.after, ["b"]);
  const next = writeTags(old, { ...s, role: "imports" });
  assert.deepEqual(next, ["imports", "annotation:team:ml", "secret:s3:key:AWS_KEY", "my-own"]);
});

test("roles round-trip and 'continue' removes the role tags", () => {
  for (const [tag, role] of [
    ["imports", "imports"],
    ["functions", "functions"],
    ["pipeline-parameters", "parameters"],
    ["pipeline-metrics", "metrics"],
    ["skip", "skip"],
  ] as const) {
    const s = parseTags([tag]);
    assert.equal(s.role, role);
    assert.deepEqual(writeTags([], s), [tag]);
  }
  assert.deepEqual(writeTags(["step:x", "limit:cpu:1", "label:a:b"], emptySettings()), ["label:a:b"]);
});

test("GPU aliases are read, a step does not depend on itself, labels", () => {
  assert.equal(parseTags(["step:a", "limit:gpu:2"]).gpu, "2");
  const s = { ...emptySettings(), role: "step" as const, name: "a", after: ["a", "b"] };
  assert.deepEqual(writeTags([], s), ["step:a", "prev:b"]);
  assert.equal(roleLabel(parseTags(["step:train"])), "step: train");
  assert.equal(roleLabel(parseTags([])), "");
  assert.equal(roleLabel(parseTags(["pipeline-metrics"])), "pipeline metrics");
});

test("step names are checked before they are written", () => {
  assert.equal(stepNameProblem("train_1"), null);
  assert.notEqual(stepNameProblem(""), null);
  assert.notEqual(stepNameProblem("1abc"), null);
  assert.notEqual(stepNameProblem("a b"), null);
});
