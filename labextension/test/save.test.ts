import assert from "node:assert/strict";
import { test } from "node:test";

import { saveInTurn, watchSaves } from "../src/save";

/** A document whose saves take a while and report "started"/"completed" like JupyterLab's. */
function slowDoc() {
  const slots: ((s: unknown, state: string) => void)[] = [];
  const log: string[] = [];
  let n = 0;
  const doc = {
    saveState: { connect: (f: (s: unknown, state: string) => void) => slots.push(f) },
    async save() {
      const id = ++n;
      slots.forEach((f) => f(doc, "started"));
      log.push(`start ${id}`);
      await new Promise((r) => setTimeout(r, 20));
      log.push(`end ${id}`);
      slots.forEach((f) => f(doc, "completed"));
    },
  };
  return { doc, log };
}

test("a save waits for the one in flight, ours or not", async () => {
  const { doc, log } = slowDoc();
  watchSaves(doc);
  const outside = doc.save(); // Ctrl+S
  await Promise.all([saveInTurn(doc), saveInTurn(doc), outside]);
  assert.deepEqual(log, ["start 1", "end 1", "start 2", "end 2", "start 3", "end 3"]);
});
