/**
 * What the panel shows, from the server's answers (`GET inspect` = `kfp-jupyter inspect --json`,
 * a 422 with problems, `GET runs/{id}` = `runs show --json`). Pure, so it is unit-tested in Node.
 */

import type { PipelineJson, StateMap, StepJson } from "kfp-jupyter-dag";

export interface Problem {
  message: string;
  cell: number | null;
  step: string | null;
  line: number | null;
  fix: string | null;
}

export interface StepRow {
  name: string;
  /** the first cell of the step (1-based, as the analysis counts), to jump to */
  cell: number | null;
  after: string[];
  /** "x_train ← split" for each variable the step receives */
  receives: { variable: string; from: string }[];
  sends: string[];
}

export interface InspectJson extends PipelineJson {
  steps: (StepJson & { cells?: number[] })[];
  warnings?: { message: string; cell?: number | null }[];
  /** an outline: the steps as the cells say them, without what only fetching could tell */
  outline?: boolean;
  /** why an outline is all there is, and what shows the whole pipeline */
  message?: string;
  /** the component URLs an outline did not fetch */
  unfetched?: string[];
}

export function stepRows(p: InspectJson): StepRow[] {
  return p.steps.map((s) => ({
    name: s.name,
    cell: s.cells && s.cells.length ? s.cells[0] : null,
    after: s.after ?? [],
    receives: Object.entries(s.input_sources ?? {})
      .map(([variable, from]) => ({ variable, from }))
      .sort((a, b) => a.variable.localeCompare(b.variable)),
    sends: s.outputs ?? [],
  }));
}

export function parameterRows(p: PipelineJson): { name: string; type: string; value: string }[] {
  return Object.entries(p.parameters ?? {}).map(([name, v]) => ({
    name,
    type: p.parameter_types?.[name] ?? typeof v,
    value: JSON.stringify(v),
  }));
}

/** "cell 3, line 2 · step train": where a problem is. */
export function where(p: Problem): string {
  const parts: string[] = [];
  if (p.cell != null) parts.push(`cell ${p.cell}` + (p.line ? `, line ${p.line}` : ""));
  if (p.step) parts.push(`step ${p.step}`);
  return parts.join(" · ");
}

/** Map from analysis cell numbers (1-based, every cell counted) to notebook cell indices. */
export function cellIndex(cell: number): number {
  return cell - 1;
}

export interface RunSummary {
  id: string;
  state: string;
  message?: string | null;
  tasks: {
    name: string;
    state: string;
    started?: number | string | null;
    finished?: number | string | null;
    attempts?: number;
    cached?: boolean;
    exit_code?: number | null;
    message?: string | null;
  }[];
  metrics?: Record<string, number>;
}

export const FINAL_STATES = new Set(["SUCCEEDED", "FAILED", "CANCELLED"]);

export function isFinal(state: string): boolean {
  return FINAL_STATES.has(state);
}

/** The DAG's task states from a run summary. */
export function runStates(run: RunSummary): StateMap {
  const out: StateMap = {};
  for (const t of run.tasks ?? []) {
    out[t.name] = {
      state: t.state,
      started: t.started,
      finished: t.finished,
      attempts: t.attempts,
      cached: t.cached,
      exit_code: t.exit_code,
      message: t.message,
    };
  }
  return out;
}

/** "3/4 steps done": the progress line of a run. */
export function progress(run: RunSummary): string {
  const done = run.tasks.filter((t) => t.state === "SUCCEEDED" || t.state === "CACHED").length;
  return `${run.state.toLowerCase()} · ${done}/${run.tasks.length} steps done`;
}

/** The steps that depend on `name`, directly or through others (after-edges of `steps`). */
export function dependents(steps: { name: string; after: string[] }[], name: string): Set<string> {
  const out = new Set<string>();
  const todo = [name];
  while (todo.length) {
    const n = todo.pop() as string;
    for (const s of steps) {
      if (s.after.includes(n) && !out.has(s.name)) {
        out.add(s.name);
        todo.push(s.name);
      }
    }
  }
  return out;
}

/**
 * The cycle that step `name` running after `after` would close (its own edges as given, the
 * others' as in `steps`), as edges "upstream → downstream", e.g. ["train → evaluate",
 * "evaluate → train"]; [] if there is none.
 */
export function cycleEdges(
  steps: { name: string; after: string[] }[],
  name: string,
  after: string[],
): string[] {
  const graph = [...steps.filter((s) => s.name !== name), { name, after }];
  // a path name → ... → a (a depends on name) plus the new edge "name after a" is a cycle
  const path = (from: string, to: string, seen = new Set<string>()): string[] | null => {
    if (from === to) return [to];
    seen.add(from);
    for (const s of graph) {
      if (s.after.includes(from) && !seen.has(s.name)) {
        const rest = path(s.name, to, seen);
        if (rest) return [from, ...rest];
      }
    }
    return null;
  };
  for (const a of after) {
    const p = a === name ? [name] : path(name, a);
    if (!p) continue;
    const cycle = [...p, name]; // each step feeds the next: name → ... → a → name
    return cycle.slice(1).map((n, i) => `${cycle[i]} → ${n}`);
  }
  return [];
}

/**
 * Why step `name` cannot run after `after`: the edges of the cycle it would close, the new one
 * last, and the fix (take that step out of After); null if there is no cycle.
 */
export function cycleProblem(
  steps: { name: string; after: string[] }[],
  name: string,
  after: string[],
): string | null {
  const cycle = cycleEdges(steps, name, after);
  if (!cycle.length) return null;
  const closing = cycle[cycle.length - 1].split(" → ")[0];
  return `this would close a cycle: ${cycle.join(", ")}; fix: take ${closing} out of After`;
}
