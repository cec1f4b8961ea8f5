/**
 * The panel's run view, as pure functions (unit-tested in Node): which of a notebook's runs to
 * follow, how to name them in the recent-runs list, and which cell a failed step failed in.
 */

/** One entry of `GET runs?path=NOTEBOOK` (`runs list --json`, plus the cluster runs sent here). */
export interface RunListing {
  id: string;
  state: string;
  /** ISO 8601 */
  created?: string | null;
  engine?: string;
  url?: string | null;
  message?: string | null;
}

/**
 * The run the panel should show after a new listing, or null to keep the one it shows.
 *
 * On the first listing of a notebook (nothing known yet) that is its newest run, so opening a
 * notebook shows how it last ran; after that, a run the panel has not seen before, wherever it
 * started (the Run button, the widget, `%kfp run`, a terminal): a new run matters more than an
 * old one the user was looking at.
 */
export function runToFollow(
  runs: RunListing[],
  known: ReadonlySet<string>,
  first: boolean,
): string | null {
  if (!runs.length) return null;
  if (first) return runs[0].id;
  const fresh = runs.find((r) => !known.has(r.id));
  return fresh ? fresh.id : null;
}

/** "12 s ago", "3 min ago", "2 h ago", "4 d ago": when a run started, from `now` (ms). */
export function ago(iso: string | null | undefined, now: number): string {
  if (!iso) return "";
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return "";
  const s = Math.max(0, Math.round((now - t) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

/** A run's id short enough for a narrow list (local ids are long and start alike). */
export function shortId(id: string, max = 14): string {
  return id.length > max ? `${id.slice(0, max - 1)}…` : id;
}

/** "a1b2c3 · failed · 2 min ago · kfp": one line of the recent-runs list. */
export function runLine(run: RunListing, now: number): string {
  const parts = [shortId(run.id), run.state.toLowerCase(), ago(run.created, now)];
  if (run.engine && run.engine !== "local") parts.push(run.engine);
  return parts.filter(Boolean).join(" · ");
}

export interface ErrorFrame {
  cell?: number | null;
  line?: number | null;
  name?: string | null;
}

/**
 * The cell (analysis number: 1-based, every cell counted) where a failed step failed: the
 * innermost frame of the mapped traceback that is in one of the step's own cells, else the
 * innermost frame in any cell (a function from a functions cell), else the step's first cell.
 */
export function failedCell(cells: number[], frames: ErrorFrame[]): number | null {
  const inCells = frames.filter((f) => typeof f.cell === "number") as { cell: number }[];
  const own = inCells.filter((f) => cells.includes(f.cell));
  if (own.length) return own[own.length - 1].cell;
  if (inCells.length) return inCells[inCells.length - 1].cell;
  return cells.length ? cells[0] : null;
}

/** The steps the notebook's problems name (to mark them on the last good DAG). */
export function problemSteps(problems: { step?: string | null }[]): string[] {
  return [...new Set(problems.map((p) => p.step).filter((s): s is string => Boolean(s)))];
}
