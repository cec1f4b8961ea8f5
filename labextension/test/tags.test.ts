import assert from "node:assert/strict";
import { test } from "node:test";

import {
  cellWriteProblem,
  emptySettings,
  parseCell,
  parseTags,
  roleLabel,
  splitPackages,
  stepNameProblem,
  tagPackagesProblem,
  writeCell,
  writeTags,
} from "../src/tags";

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

test("packages split on commas only: a range and a spaced requirement stay one", () => {
  assert.deepEqual(splitPackages("pandas>=2,<3, numpy"), ["pandas>=2,<3", "numpy"]);
  assert.deepEqual(splitPackages("scikit-learn >= 1.3"), ["scikit-learn >= 1.3"]);
  assert.deepEqual(splitPackages(" a , b==1.2 ,, ~=3 "), ["a", "b==1.2,~=3"]);
  const tags = ["step:train", "packages:pandas>=2,<3", "label:team:ml"];
  const s = parseTags(tags);
  assert.deepEqual(s.packages, ["pandas>=2,<3"]);
  // a requirement with spaces is one tag, as the compiler reads it
  const spaced = { ...s, packages: splitPackages("scikit-learn >= 1.3, numpy") };
  assert.deepEqual(writeTags([], spaced), ["step:train", "packages:scikit-learn >= 1.3", "packages:numpy"]);
  assert.equal(tagPackagesProblem(spaced), null);
});

test("a range a tag cannot hold is refused with the compiler's advice, not split into tags", () => {
  const s = { ...parseTags(["step:train", "packages:pandas>=2,<3"]), cpu: "2" };
  const problem = tagPackagesProblem(s) ?? "";
  assert.match(problem, /pandas>=2,<3 contains ',', which notebook tags cannot hold/);
  assert.match(problem, /pin one version \(e\.g\. pandas==VERSION\)/);
  assert.ok(problem.endsWith("%%step train --packages 'pandas>=2,<3'"), problem);
  assert.equal(cellWriteProblem("x = 1", s), problem);
  // a magic line holds the range: no problem, and it is written there
  const source = "%%step train\nx = 1";
  assert.equal(cellWriteProblem(source, s), null);
  assert.equal(
    writeCell(source, [], { ...s, packages: ["pandas>=2,<3", "numpy"] }).source,
    "%%step train --packages 'pandas>=2,<3,numpy' --cpu 2\nx = 1",
  );
  assert.deepEqual(parseCell("%%step train --packages 'pandas>=2,<3,numpy'", []).packages, [
    "pandas>=2,<3",
    "numpy",
  ]);
  // only a step writes packages
  assert.equal(tagPackagesProblem({ ...s, role: "skip" }), null);
});

test("Kale's block:NAME is a step, kept as block: while its name stays", () => {
  const tags = ["block:train", "prev:load", "limit:memory:4Gi", "image:my/img:1", "mine"];
  const s = parseTags(tags);
  assert.deepEqual([s.role, s.name, s.after, s.memory, s.image], ["step", "train", ["load"], "4Gi", "my/img:1"]);
  assert.equal(roleLabel(s), "step: train");
  // Apply without changes: the same tags
  assert.deepEqual(writeTags(tags, s).sort(), [...tags].sort());
  assert.deepEqual(writeTags(tags, { ...s, cpu: "1" }), [
    "block:train",
    "prev:load",
    "image:my/img:1",
    "limit:cpu:1",
    "limit:memory:4Gi",
    "mine",
  ]);
  // renamed: one role tag, `step:`
  assert.deepEqual(writeTags(tags, { ...s, name: "train2" }), [
    "step:train2",
    "prev:load",
    "image:my/img:1",
    "limit:memory:4Gi",
    "mine",
  ]);
  assert.deepEqual(writeTags(tags, { ...s, role: "imports" }), ["imports", "mine"]);
  // a bare `block:` is no tag (as Kale reads it) and is left as it is
  assert.equal(parseTags(["block:"]).role, "continue");
  assert.deepEqual(writeTags(["block:"], { ...emptySettings(), role: "step", name: "a" }), ["step:a", "block:"]);
  // Kale's role names cannot name a step: `block:skip` is the role skip, as the compiler reads it
  assert.equal(parseTags(["block:skip"]).role, "skip");
  assert.deepEqual(writeTags(["block:skip"], parseTags(["block:skip"])), ["skip"]);
});
