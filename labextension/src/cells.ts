/**
 * What the extension shows on the notebook's own cells: each code cell's role badge, and the
 * mark on the cell a failed step failed in.
 */

import type { Cell } from "@jupyterlab/cells";
import { type PanelLayout, Widget } from "@lumino/widgets";

import { h } from "./dom";
import { type CellSettings, parseCell, roleLabel } from "./tags";

export function cellTags(cell: Cell): string[] {
  const tags = cell.model.getMetadata("tags");
  return Array.isArray(tags) ? tags.map(String) : [];
}

/** The cell's settings, from its magic line or its tags. */
export function cellSettings(cell: Cell): CellSettings {
  return parseCell(cell.model.sharedModel.getSource(), cellTags(cell));
}

/** Our rows on each cell, by class: widgets of the cell's own layout. */
const rows = new WeakMap<Cell, Map<string, Widget>>();

/**
 * The element of class `cls` on `cell`, in a row of its own just above the cell's input, or
 * null while the cell is a placeholder not drawn yet (`cell.ready`). Why a widget of the cell's
 * layout and not a node put into the cell: the layout places its widgets by their index among
 * the cell's child nodes, so a foreign node there pushes the input and the outputs above it;
 * that is how the badge of a cell drawn late ended up below its input.
 */
function cellRow<K extends keyof HTMLElementTagNameMap>(
  cell: Cell,
  tag: K,
  cls: string,
): HTMLElementTagNameMap[K] | null {
  if (cell.isDisposed) return null;
  const layout = cell.layout as PanelLayout;
  const own = rows.get(cell) ?? new Map<string, Widget>();
  rows.set(cell, own);
  let row = own.get(cls);
  if (!row || row.isDisposed) {
    const input = layout.widgets.findIndex((w) => w.hasClass("jp-Cell-inputWrapper"));
    if (input < 0) return null; // a placeholder: its input is not drawn yet
    row = new Widget({ node: h(tag, { class: cls }) });
    layout.insertWidget(input, row);
    own.set(cls, row);
  }
  return row.node as HTMLElementTagNameMap[K];
}

function dropRow(cell: Cell, cls: string): void {
  const row = rows.get(cell)?.get(cls);
  row?.dispose();
  rows.get(cell)?.delete(cls);
}

/**
 * Show the cell's role on the cell: a coloured badge (CSS on data-kfp-role), in the flow above
 * the cell's input so that it never covers the cell's toolbar (absolutely placed, top right).
 * A cell not drawn yet gets its badge once it is drawn.
 */
export function markCell(cell: Cell, drawn = false): void {
  const label = cell.model.type === "code" ? roleLabel(cellSettings(cell)) : "";
  if (!label) {
    delete cell.node.dataset.kfpRole;
    delete cell.node.dataset.kfpLabel;
    dropRow(cell, "kfpj-badge");
    return;
  }
  cell.node.dataset.kfpRole = cellSettings(cell).role;
  cell.node.dataset.kfpLabel = label;
  const badge = cellRow(cell, "div", "kfpj-badge");
  if (!badge) {
    if (!drawn) void cell.ready.then(() => markCell(cell, true));
    return;
  }
  badge.textContent = label;
}

/** The red mark on the cell a failed step failed in; clicking it opens the step's details. */
export function markFailedCell(cell: Cell, step: string, open: () => void, drawn = false): void {
  cell.node.dataset.kfpFailed = step;
  const mark = cellRow(cell, "button", "kfpj-fail-mark");
  if (!mark) {
    void cell.ready.then(() => {
      if (!drawn && cell.node.dataset.kfpFailed === step) markFailedCell(cell, step, open, true);
    });
    return;
  }
  mark.type = "button";
  mark.setAttribute("data-kfp-step", step);
  mark.title = `step ${step} failed here: show its details`;
  mark.textContent = `✖ step ${step} failed`;
  mark.onclick = (ev) => {
    ev.stopPropagation();
    open();
  };
}

export function clearFailedCells(cells: readonly Cell[]): void {
  for (const cell of cells) {
    delete cell.node.dataset.kfpFailed;
    dropRow(cell, "kfpj-fail-mark");
  }
}
