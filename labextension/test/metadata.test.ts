import assert from "node:assert/strict";
import { after, test } from "node:test";

import {
  type MetadataNotebook,
  applyPipelineSettings,
  defaultPipelineName,
  readPipelineSettings,
  settingsProblems,
  suggestPipelineName,
  writePipelineSettings,
} from "../src/metadata";

// The real shared model JupyterLab uses (ESM only: imported at run time, see undo.test.ts).
type Ydoc = typeof import("@jupyter/ydoc");
const importEsm = new Function("m", "return import(m)") as (m: string) => Promise<Ydoc>;

const created: { dispose(): void }[] = [];
after(() => created.forEach((nb) => nb.dispose()));

async function notebook(metadata: Record<string, unknown>, documentWide = false) {
  const { YNotebook } = await importEsm("@jupyter/ydoc");
  const nb = YNotebook.create({ disableDocumentWideUndoRedo: !documentWide });
  created.push(nb);
  const warn = console.warn;
  console.warn = () => {};
  try {
    nb.insertCells(0, [{ cell_type: "code", source: "x = 1", metadata: {} }]);
    nb.setMetadata({ kernelspec: { name: "python3", display_name: "Python 3" }, ...metadata });
  } finally {
    console.warn = warn;
  }
  nb.clearUndoHistory(); // as after loading a file
  nb.dirty = false;
  return nb;
}

test("settings are read with the compiler's precedence: ours, then Kale's", () => {
  assert.deepEqual(readPipelineSettings({}), { name: "", description: "", experiment: "" });
  const kale = {
    kubeflow_notebook: {
      pipeline_name: "kale-name",
      pipeline_description: "from kale",
      experiment: { name: "kale-exp" },
    },
  };
  assert.deepEqual(readPipelineSettings(kale), {
    name: "kale-name",
    description: "from kale",
    experiment: "kale-exp",
  });
  const both = {
    ...kale,
    kfp_jupyter: { pipeline_name: "ours-old", experiment: " ours-exp " },
  };
  assert.deepEqual(readPipelineSettings(both), {
    name: "ours-old",
    description: "from kale",
    experiment: "ours-exp",
  });
  const named = { kfp_jupyter: { name: "n1", pipeline_name: "n2", description: 3 } };
  assert.deepEqual(readPipelineSettings(named), { name: "n1", description: "", experiment: "" });
});

test("names follow the compiler's rule, with a suggestion", () => {
  assert.deepEqual(settingsProblems({ name: "my-pipe-2", description: "", experiment: "" }), {});
  assert.deepEqual(settingsProblems({ name: "", description: "", experiment: "" }), {});
  const bad = settingsProblems({ name: "My Pipe!", description: "", experiment: "" });
  assert.match(bad.name ?? "", /lowercase letters, digits and '-'.*"my-pipe"/);
  assert.ok(settingsProblems({ name: "-x", description: "", experiment: "" }).name);
  assert.equal(suggestPipelineName("Iris Classifier (v2)"), "iris-classifier-v2");
  assert.equal(defaultPipelineName("dir/My Notebook.ipynb"), "my-notebook");
});

test("writing keeps the other kfp_jupyter keys and only touches what changed", () => {
  const metadata = { kfp_jupyter: { pipeline_name: "old", image: "python:3.12", description: "d" } };
  const out = writePipelineSettings(metadata, { name: "new", description: "d", experiment: "e" });
  assert.deepEqual(out, {
    ours: { image: "python:3.12", description: "d", name: "new", experiment: "e" },
    changed: true,
  });
  assert.deepEqual(
    writePipelineSettings(metadata, { name: "old", description: "d", experiment: "" }),
    { ours: metadata.kfp_jupyter, changed: false },
  );
  // emptied fields go; with nothing left, so does the key
  assert.deepEqual(
    writePipelineSettings({ kfp_jupyter: { name: "a" } }, { name: "", description: "", experiment: "" }),
    { ours: null, changed: true },
  );
});

for (const documentWide of [false, true]) {
  const mode = documentWide ? "document-wide undo" : "per-cell undo (JupyterLab's default)";

  test(`${mode}: a settings change is one undo step, redone by redo, and makes the notebook dirty`, async () => {
    const nb = await notebook({ kfp_jupyter: { name: "before", image: "python:3.12" } });
    const model = nb as unknown as MetadataNotebook;
    assert.equal(
      applyPipelineSettings(model, { name: "after", description: "new", experiment: "" }),
      true,
    );
    assert.deepEqual(nb.getMetadata("kfp_jupyter"), {
      name: "after",
      image: "python:3.12",
      description: "new",
    });
    assert.equal(nb.dirty, true);
    assert.equal(nb.undo(), true);
    assert.deepEqual(nb.getMetadata("kfp_jupyter"), { name: "before", image: "python:3.12" });
    assert.deepEqual(nb.getMetadata("kernelspec"), { name: "python3", display_name: "Python 3" });
    assert.equal(nb.canUndo(), false);
    assert.equal(nb.redo(), true);
    assert.equal(readPipelineSettings(nb.getMetadata()).name, "after");
  });

  test(`${mode}: two quick changes are two undo steps; a new key is removed by undo`, async () => {
    const nb = await notebook({});
    const model = nb as unknown as MetadataNotebook;
    applyPipelineSettings(model, { name: "one", description: "", experiment: "" });
    applyPipelineSettings(model, { name: "one", description: "", experiment: "exp" });
    nb.undo();
    assert.deepEqual(nb.getMetadata("kfp_jupyter"), { name: "one" });
    nb.undo();
    assert.equal(nb.getMetadata("kfp_jupyter"), undefined);
    assert.equal(nb.canUndo(), false);
  });
}

test("the same settings again change nothing and add no undo step", async () => {
  const nb = await notebook({ kfp_jupyter: { name: "same" } });
  const model = nb as unknown as MetadataNotebook;
  assert.equal(applyPipelineSettings(model, { name: "same", description: "", experiment: "" }), false);
  assert.equal(nb.canUndo(), false);
  assert.equal(nb.dirty, false);
});

test("why: without the metadata in the undo scope, a notebook metadata change is not undoable", async () => {
  // The behaviour applyPipelineSettings works around; if ydoc starts recording it, this says so.
  const nb = await notebook({});
  nb.transact(() => nb.setMetadata("kfp_jupyter", { name: "x" }), true);
  assert.equal(nb.canUndo(), false);
});
