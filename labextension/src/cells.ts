/**
 * What the extension shows on the notebook's own cells: each code cell's role badge, and the
 * mark on the cell a failed step failed in.
 */

import type { Cell } from "@jupyterlab/cells";

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

/**
 * Show the cell's role on the cell: a coloured badge (CSS on data-kfp-role), in the flow above
 * the cell's input so that it never covers the cell's toolbar (absolutely placed, top right).
 */
export function markCell(cell: Cell): void {
  const label = cell.model.type === "code" ? roleLabel(cellSettings(cell)) : "";
  let badge = cell.node.querySelector<HTMLElement>(":scope > .kfpj-badge");
  if (!label) {
    delete cell.node.dataset.kfpRole;
    delete cell.node.dataset.kfpLabel;
    badge?.remove();
    return;
  }
  cell.node.dataset.kfpRole = cellSettings(cell).role;
  cell.node.dataset.kfpLabel = label;
  if (!badge) {
    badge = h("div", { class: "kfpj-badge" });
    cell.node.prepend(badge);
  }
  badge.textContent = label;
}

/** The red mark on the cell a failed step failed in; clicking it opens the step's details. */
export function markFailedCell(cell: Cell, step: string, open: () => void): void {
  cell.node.dataset.kfpFailed = step;
  let mark = cell.node.querySelector<HTMLElement>(":scope > .kfpj-fail-mark");
  if (!mark) {
    mark = h("button", { class: "kfpj-fail-mark", type: "button" });
    cell.node.prepend(mark);
  }
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
    cell.node.querySelector(":scope > .kfpj-fail-mark")?.remove();
  }
}
