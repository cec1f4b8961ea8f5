/**
 * Writing a cell's tags so that the notebook's undo (command mode `z`, `notebook:undo-cell-action`)
 * takes the change back, as one step per editor action.
 *
 * Why this is needed (@jupyter/ydoc 4, JupyterLab 4.x): `cell.setMetadata` and `deleteMetadata`
 * write inside `transact(f, false)`, i.e. a Yjs transaction with origin `null`. The notebook's
 * `Y.UndoManager` covers every cell (its scope is the `cells` Y.Array, deeply) but records only
 * transactions whose origin is the YNotebook itself, so a plain metadata write never reaches the
 * undo stack. Yjs runs a nested `transact` inside the outer transaction, whose origin wins: so
 * wrapping the write in `notebook.transact(f, true)` (origin: the notebook) makes the undo manager
 * record it, whether or not document-wide undo is on. `stopCapturing` before and after keeps it
 * one step of its own: the undo manager merges changes less than 500 ms apart.
 *
 * Structural types only (no JupyterLab import), so the logic runs in Node against the real ydoc.
 */

export interface TaggableCell {
  readonly source?: string;
  updateSource?(start: number, end: number, value: string): void;
  getMetadata(key: string): unknown;
  setMetadata(key: string, value: string[]): void;
  deleteMetadata(key: string): void;
}

export interface UndoableNotebook {
  transact(f: () => void, undoable?: boolean): void;
  /** Y.UndoManager of the YNotebook (not part of ISharedNotebook's declared interface). */
  readonly undoManager?: { stopCapturing(): void };
}

function sameTags(current: unknown, tags: readonly string[]): boolean {
  const now = Array.isArray(current) ? current.map(String) : [];
  return now.length === tags.length && now.every((t, i) => t === tags[i]);
}

/**
 * Set (or, for no tags, delete) the cell's `tags`, and its `source` if given, as one undoable
 * step. False if nothing changed.
 */
export function writeCellTags(
  notebook: UndoableNotebook,
  cell: TaggableCell,
  tags: readonly string[],
  source?: string,
): boolean {
  const current = cell.getMetadata("tags");
  const tagsSame = sameTags(current, tags) && (tags.length > 0 || current === undefined);
  const old = cell.source ?? "";
  const sourceSame = source === undefined || source === old;
  if (tagsSame && sourceSame) return false;
  notebook.undoManager?.stopCapturing();
  notebook.transact(() => {
    if (!sourceSame) {
      // replace only what changed (the magic line), so the body and its cursor stay put
      const n = Math.min(old.length, source.length);
      let start = 0;
      while (start < n && old[start] === source[start]) start++;
      let end = 0;
      while (end < n - start && old.at(-1 - end) === source.at(-1 - end)) end++;
      cell.updateSource?.(start, old.length - end, source.slice(start, source.length - end));
    }
    if (tagsSame) return;
    if (tags.length) cell.setMetadata("tags", [...tags]);
    else cell.deleteMetadata("tags");
  }, true);
  notebook.undoManager?.stopCapturing();
  return true;
}
