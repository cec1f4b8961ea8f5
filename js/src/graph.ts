/**
 * The pipeline as the drawing needs it, from the JSON every front end already has:
 * `kfp-jupyter inspect --json` (= `Pipeline.to_json()`, = the server extension's `GET inspect`).
 */

/** One step of `kfp-jupyter inspect --json`; only `name` is required. */
export interface StepJson {
  name: string;
  after?: string[];
  inputs?: string[];
  /** variable -> the step that hands it over */
  input_sources?: Record<string, string>;
  outputs?: string[];
  parameters?: string[];
  metrics?: string[];
  image?: string;
  packages?: string[];
  resources?: Record<string, string>;
  retries?: number;
  timeout?: number | null;
  cache?: boolean;
  cells?: number[];
  /** what runs it: "python" (the notebook's code), "component", "container" or "resource" */
  kind?: string;
  /** output name -> the notebook variable it is written from (e.g. a component's `frame__csv`) */
  exports?: Record<string, { variable: string; format?: string }>;
}

export interface PipelineJson {
  name?: string;
  description?: string;
  steps: StepJson[];
  parameters?: Record<string, unknown>;
  parameter_types?: Record<string, string>;
  metrics?: string[];
}

/** A task's state, as run events and `runs show --json` give it (times in seconds since 1970). */
export interface TaskState {
  state: string;
  started?: number | string | null;
  finished?: number | string | null;
  attempt?: number;
  attempts?: number;
  cached?: boolean;
  exit_code?: number | null;
  message?: string | null;
}

export type StateMap = Record<string, TaskState>;

export interface DagEdge {
  source: string;
  target: string;
  /** the variables that flow along the edge (none: an ordering edge only) */
  variables: string[];
}

export const GPU_RESOURCE = "nvidia.com/gpu";

/**
 * The edges of the pipeline: every `after` edge, labelled with the variables it carries, by the
 * names the notebook gives them (an output written for a component, `rows__csv`, is `rows`).
 */
export function pipelineEdges(p: PipelineJson): DagEdge[] {
  const names = new Set(p.steps.map((s) => s.name));
  const byName = new Map(p.steps.map((s) => [s.name, s]));
  const edges = new Map<string, DagEdge>();
  const add = (source: string, target: string): DagEdge | undefined => {
    if (!names.has(source) || !names.has(target) || source === target) return undefined;
    const key = `${source}\u0000${target}`;
    let e = edges.get(key);
    if (!e) {
      e = { source, target, variables: [] };
      edges.set(key, e);
    }
    return e;
  };
  for (const s of p.steps) {
    for (const a of s.after ?? []) add(a, s.name);
    for (const [variable, producer] of Object.entries(s.input_sources ?? {})) {
      const e = add(producer, s.name);
      const shown = byName.get(producer)?.exports?.[variable]?.variable ?? variable;
      if (e && !e.variables.includes(shown)) e.variables.push(shown);
    }
  }
  for (const e of edges.values()) e.variables.sort();
  return [...edges.values()];
}

/** Short resource badges for a step, e.g. ["GPU 2", "cpu 4", "mem 8Gi"]. */
export function resourceBadges(s: StepJson): string[] {
  const out: string[] = [];
  const res = s.resources ?? {};
  for (const [k, v] of Object.entries(res)) {
    if (k === GPU_RESOURCE) out.unshift(`GPU ${v}`);
    else if (k === "cpu") out.push(`cpu ${v}`);
    else if (k === "memory") out.push(`mem ${v}`);
    else out.push(`${k.split("/").pop()} ${v}`);
  }
  if (s.retries) out.push(`retries ${s.retries}`);
  if (s.timeout) out.push(`timeout ${s.timeout}s`);
  if (s.cache === false) out.push("no cache");
  return out;
}

/** A time given as seconds or as ISO 8601 text (from `runs show --json`), in seconds. */
export function seconds(t: number | string | null | undefined): number | null {
  if (t === null || t === undefined || t === "") return null;
  if (typeof t === "number") return t;
  const ms = Date.parse(t);
  return Number.isNaN(ms) ? null : ms / 1000;
}

/** 0:07, 2:05, 1:02:03 */
export function formatDuration(s: number): string {
  const total = Math.max(0, Math.floor(s));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const sec = String(total % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
}

/** What a node says about its task, e.g. "running 0:12", "succeeded in 3.2 s", "cached". */
export function stateText(t: TaskState | undefined, now: number): string {
  if (!t || !t.state) return "";
  const started = seconds(t.started);
  const finished = seconds(t.finished);
  switch (t.state) {
    case "PENDING":
      return "pending";
    case "RUNNING": {
      const el = started !== null ? ` ${formatDuration(now - started)}` : "";
      const attempt = (t.attempt ?? t.attempts ?? 0) > 1 ? ` (try ${t.attempt ?? t.attempts})` : "";
      return `running${el}${attempt}`;
    }
    case "SUCCEEDED": {
      if (started !== null && finished !== null) {
        const d = finished - started;
        return `succeeded in ${d < 10 ? d.toFixed(1) : formatDuration(d)}${d < 10 ? " s" : ""}`;
      }
      return "succeeded";
    }
    case "CACHED":
      return "cached";
    case "FAILED":
      return t.exit_code !== null && t.exit_code !== undefined
        ? `failed (exit ${t.exit_code})`
        : "failed";
    case "SKIPPED":
      return "skipped";
    case "CANCELLED":
      return "cancelled";
    case "INTERRUPTED":
      return "interrupted";
    default:
      return t.state.toLowerCase();
  }
}
