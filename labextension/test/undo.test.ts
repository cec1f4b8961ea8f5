import assert from "node:assert/strict";
import { after, test } from "node:test";

import { writeCellTags } from "../src/undo";

// The real shared model JupyterLab uses. It is ESM only; this test compiles to CommonJS, where tsc
// would turn `import()` into `require()`, so the import is made at run time.
type Ydoc = typeof import("@jupyter/ydoc");
const importEsm = new Function("m", "return import(m)") as (m: string) => Promise<Ydoc>;

const created: { dispose(): void }[] = [];
after(() => created.forEach((nb) => nb.dispose())); // their awareness timers keep Node running

async function notebook(disableDocumentWideUndoRedo: boolean) {
  const { YNotebook } = await importEsm("@jupyter/ydoc");
  const nb = YNotebook.create({ disableDocumentWideUndoRedo });
  created.push(nb);
  // ydoc builds a new cell's Y types before they join the document, which yjs logs as premature
  // access (JupyterLab's console shows the same); not what these tests are about.
  const warn = console.warn;
  console.warn = () => {};
  try {
    nb.insertCells(0, [
      { cell_type: "code", source: "x = 1", metadata: { tags: ["imports"] } },
      { cell_type: "code", source: "print(x)", metadata: { collapsed: false } },
    ]);
  } finally {
    console.warn = warn;
  }
  nb.clearUndoHistory(); // as after loading a file
  return { nb, cell: nb.getCell(1) };
}

for (const documentWide of [false, true]) {
  const mode = documentWide ? "document-wide undo" : "per-cell undo (JupyterLab's default)";

  test(`${mode}: the notebook's undo takes an editor write back, and redo redoes it`, async () => {
    const { nb, cell } = await notebook(!documentWide);
    assert.equal(writeCellTags(nb, cell, ["step:report", "prev:evaluate"]), true);
    assert.deepEqual(cell.getMetadata("tags"), ["step:report", "prev:evaluate"]);
    assert.equal(nb.canUndo(), true);
    assert.equal(nb.undo(), true);
    assert.equal(cell.getMetadata("tags"), undefined);
    assert.deepEqual(cell.getMetadata(), { collapsed: false, jupyter: { outputs_hidden: false } });
    assert.deepEqual(nb.getCell(0).getMetadata("tags"), ["imports"]);
    assert.equal(nb.redo(), true);
    assert.deepEqual(cell.getMetadata("tags"), ["step:report", "prev:evaluate"]);
  });

  test(`${mode}: two quick edits are two undo steps`, async () => {
    const { nb, cell } = await notebook(!documentWide);
    writeCellTags(nb, cell, ["step:report"]);
    writeCellTags(nb, cell, ["step:report", "cache:disabled"]); // well within 500 ms
    nb.undo();
    assert.deepEqual(cell.getMetadata("tags"), ["step:report"]);
    nb.undo();
    assert.equal(cell.getMetadata("tags"), undefined);
    assert.equal(nb.canUndo(), false);
  });

  test(`${mode}: clearing the role deletes the tags, undoably`, async () => {
    const { nb } = await notebook(!documentWide);
    const tagged = nb.getCell(0);
    assert.equal(writeCellTags(nb, tagged, []), true);
    assert.equal(tagged.getMetadata("tags"), undefined);
    nb.undo();
    assert.deepEqual(tagged.getMetadata("tags"), ["imports"]);
  });
}

test("the same tags again change nothing and add no undo step", async () => {
  const { nb } = await notebook(true);
  assert.equal(writeCellTags(nb, nb.getCell(0), ["imports"]), false);
  assert.equal(writeCellTags(nb, nb.getCell(1), []), false);
  assert.equal(nb.canUndo(), false);
});

test("why: a plain setMetadata never reaches the notebook's undo stack", async () => {
  // The behaviour writeCellTags works around; if ydoc starts recording it, this says so.
  const { nb, cell } = await notebook(true);
  cell.setMetadata("tags", ["step:report"]);
  assert.equal(nb.canUndo(), false);
});
