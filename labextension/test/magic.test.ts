import assert from "node:assert/strict";
import { test } from "node:test";

import { cycleEdges, cycleProblem, dependents } from "../src/summary";
import {
  emptySettings,
  formatMagicLine,
  parseCell,
  parseMagicLine,
  roleLabel,
  shellQuote,
  shellSplit,
  writeCell,
} from "../src/tags";

const every = {
  ...emptySettings(),
  role: "step" as const,
  name: "fit",
  after: ["load", "split"],
  image: "python:3.12",
  packages: ["numpy", "scikit-learn==1.5"],
  cpu: "500m",
  memory: "4Gi",
  gpu: "1",
  retries: "3",
  timeout: "600",
  cache: "disabled" as const,
};

test("every option of %%step round-trips, as grammar.py writes it", () => {
  const line = formatMagicLine(every);
  assert.equal(
    line,
    "%%step fit --after load split --image python:3.12 --packages numpy,scikit-learn==1.5 " +
      "--cpu 500m --memory 4Gi --gpu 1 --retries 3 --timeout 600 --no-cache",
  );
  assert.deepEqual(parseMagicLine(line)?.settings, every);
  const enabled = { ...every, cache: "enabled" as const };
  assert.deepEqual(parseMagicLine(formatMagicLine(enabled))?.settings, enabled);
  // argparse's --opt=value form is read too
  assert.equal(parseMagicLine("%%step a --image=x:1 --after=b")?.settings.image, "x:1");
});

test("odd values are quoted like shlex.quote and read back like shlex.split", () => {
  const odd = { ...emptySettings(), role: "step" as const, name: "a", image: "my image:it's" };
  const line = formatMagicLine(odd);
  assert.equal(line, `%%step a --image 'my image:it'"'"'s'`);
  assert.deepEqual(parseMagicLine(line)?.settings, odd);
  assert.equal(shellQuote(""), "''");
  assert.equal(shellQuote("a$b"), "'a$b'");
  assert.deepEqual(shellSplit(`x "a \\"b\\"" 'c d'e \\ f`), ["x", 'a "b"', "c de", " f"]);
  assert.equal(shellSplit("x 'open"), null);
  assert.equal(parseMagicLine("%%step a --image 'open"), null);
});

test("other magics give their role; options the editor does not manage are kept", () => {
  for (const [magic, role] of [
    ["imports", "imports"],
    ["functions", "functions"],
    ["pipeline_parameters", "parameters"],
    ["pipeline_metrics", "metrics"],
    ["skip", "skip"],
  ] as const) {
    const s = parseMagicLine(`%%${magic}`)?.settings;
    assert.equal(s?.role, role);
    assert.equal(formatMagicLine(s!), `%%${magic}`);
  }
  assert.equal(parseMagicLine("%%time"), null);
  const old = parseMagicLine("%%component fetch specs/fetch.yaml --label team=ml --after a")!;
  assert.equal(old.settings.name, "fetch");
  assert.deepEqual(old.settings.after, ["a"]);
  assert.equal(
    formatMagicLine({ ...old.settings, retries: "2" }, old),
    "%%component fetch specs/fetch.yaml --after a --retries 2 --label team=ml",
  );
});

test("a magic cell stays a magic cell: first line rewritten, body and other tags kept", () => {
  const source = "\n%%step train --after load\nmodel = fit(x)\n";
  const s = parseCell(source, ["step:ignored", "mine"]);
  assert.equal(s.name, "train");
  const out = writeCell(source, ["step:ignored", "mine"], { ...s, cpu: "2" });
  assert.equal(out.source, "\n%%step train --after load --cpu 2\nmodel = fit(x)\n");
  assert.deepEqual(out.tags, ["mine"]);
  assert.equal(writeCell(source, [], { ...s, role: "continue" }).source, "model = fit(x)\n");
  assert.equal(writeCell(source, [], { ...s, role: "skip" }).source, "\n%%skip\nmodel = fit(x)\n");
  // a tagged cell stays tagged
  assert.deepEqual(writeCell("x = 1", [], s), { source: "x = 1", tags: ["step:train", "prev:load"] });
});

test("After offers no step that depends on this one; a cycle names its edges", () => {
  const steps = [
    { name: "load", after: [] },
    { name: "train", after: ["load"] },
    { name: "evaluate", after: ["train"] },
    { name: "report", after: ["evaluate"] },
  ];
  assert.deepEqual([...dependents(steps, "train")].sort(), ["evaluate", "report"]);
  assert.deepEqual(cycleEdges(steps, "train", ["load"]), []);
  assert.deepEqual(cycleEdges(steps, "train", ["report"]), [
    "train → evaluate",
    "evaluate → report",
    "report → train",
  ]);
  assert.deepEqual(cycleEdges(steps, "load", ["load"]), ["load → load"]);
  // the message names the edge just added last, and the fix takes it away
  assert.equal(
    cycleProblem(steps, "train", ["load", "report"]),
    "this would close a cycle: train → evaluate, evaluate → report, report → train; " +
      "fix: take report out of After",
  );
  assert.equal(cycleProblem(steps, "train", ["load"]), null);
});

test("a %%notebook cell is a step: its path and --outputs are kept, and it gets no tags", () => {
  const source = "%%notebook prep child.ipynb --after load\n# runs child.ipynb";
  const s = parseCell(source, ["mine"]);
  assert.deepEqual([s.role, s.name, s.after], ["step", "prep", ["load"]]);
  assert.equal(roleLabel(s), "step: prep");
  // Apply without changes: the same line, and no tags
  assert.deepEqual(writeCell(source, ["mine"], s), { source, tags: ["mine"] });
  const out = writeCell(source, ["mine"], { ...s, cpu: "2", name: "prep2" });
  assert.deepEqual(out, {
    source: "%%notebook prep2 child.ipynb --after load --cpu 2\n# runs child.ipynb",
    tags: ["mine"],
  });
  // --outputs, given before the path or after it: the path goes right after the name
  const old = parseMagicLine("%%notebook prep --outputs rows,cols child.ipynb --retries=1")!;
  assert.equal(old.settings.retries, "1");
  assert.equal(
    formatMagicLine({ ...old.settings, gpu: "1" }, old),
    "%%notebook prep child.ipynb --gpu 1 --retries 1 --outputs rows,cols",
  );
});
