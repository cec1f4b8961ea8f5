/**
 * The panel's sections, each drawn from what the server said: the run's status line, the recent
 * runs, the notebook's problems, and the lists under the DAG (steps, parameters, metrics).
 * The panel (panel.ts) keeps the state and decides when each is drawn again.
 */

import type { StateMap } from "kfp-jupyter-dag";

import { h } from "./dom";
import { type RunListing, runLine } from "./runs";
import {
  type InspectJson,
  type Problem,
  type RunSummary,
  parameterRows,
  progress,
  stepRows,
  where,
} from "./summary";

/** A run as `GET runs/ID` answers. */
export type RunView = RunSummary & {
  engine?: string;
  url?: string | null;
  /** a cluster run the server lost track of (or follows no more) */
  done?: boolean;
};

/** A link to a notebook cell (by its number as the pipeline counts cells). */
export type CellLink = (text: string, cell: number | null) => HTMLElement;

/** The run shown, and how the panel names it. */
export interface ShownRun {
  id: string | null;
  run: RunView | null;
  title: string;
  link: string | null;
  message: string;
}

export function statusSection(shown: ShownRun): HTMLElement {
  const run = shown.run;
  const status = h("div", {
    class: "kfpj-run",
    "data-kfp-run": shown.id ?? "",
    "data-kfp-run-state": run?.state ?? "",
  });
  if (shown.id) {
    const text = run ? `${shown.title}: ${progress(run)}` : `${shown.title} started`;
    status.append(h("span", {}, text));
    if (run?.message) status.append(h("div", { class: "kfpj-run-message" }, run.message));
  }
  if (shown.link) {
    status.append(" ", h("a", { href: shown.link, target: "_blank", rel: "noopener" }, "open in the KFP UI"));
  }
  if (shown.message) status.append(h("div", { class: "kfpj-message" }, shown.message));
  const metrics = Object.entries(run?.metrics ?? {});
  if (metrics.length) {
    const text = metrics.map(([k, v]) => `${k} = ${Number(v).toPrecision(4)}`).join(", ");
    status.append(h("div", { class: "kfpj-metrics" }, text));
  }
  return status;
}

/** The notebook's recent runs, the shown one marked (with its fresher state); a click shows one. */
export function recentSection(
  recent: RunListing[],
  shown: ShownRun,
  show: (r: RunListing) => void,
): HTMLElement {
  const box = h("section", { class: "kfpj-recent" }, h("h3", {}, "Recent runs"));
  const now = Date.now();
  for (const r of recent) {
    const current = r.id === shown.id;
    const state = current && shown.run ? shown.run.state : r.state;
    const item = h(
      "a",
      {
        href: "#",
        class: `kfpj-recent-run${current ? " kfpj-current" : ""}`,
        "data-kfp-run": r.id,
        "data-kfp-run-state": state,
        title: `${r.id}: show this run${r.message ? `\n${r.message}` : ""}`,
      },
      runLine({ ...r, state }, now),
    );
    item.onclick = (ev) => {
      ev.preventDefault();
      show(r);
    };
    box.append(item);
  }
  return box;
}

/** The notebook's problems, each linked to its cell; `error` when the server gave no list. */
export function problemsSection(
  problems: Problem[],
  error: string,
  hasPipeline: boolean,
  link: CellLink,
): HTMLElement {
  const box = h("section", { class: "kfpj-problems" }, h("h3", {}, "Problems"));
  if (!problems.length) box.append(h("p", {}, error));
  for (const p of problems) {
    const item = h("div", { class: "kfpj-problem" });
    item.append(link(where(p) || "notebook", p.cell), ": ", p.message);
    if (p.fix) item.append(h("div", { class: "kfpj-fix" }, `fix: ${p.fix}`));
    box.append(item);
  }
  if (hasPipeline) {
    box.append(h("p", { class: "kfpj-hint-muted" }, "The pipeline below is the notebook as it last could be read."));
  }
  return box;
}

/** Why the pipeline shown is an outline (the server did not fetch its component URLs), or null. */
export function outlineNote(p: InspectJson): HTMLElement | null {
  if (!p.outline || !p.message) return null;
  const box = h("section", { class: "kfpj-outline", "data-kfp-note": "outline" }, h("p", {}, p.message));
  const urls = p.unfetched ?? [];
  if (urls.length) box.append(h("ul", {}, ...urls.map((u) => h("li", {}, u))));
  return box;
}

/** What the lists' links do in the panel. */
export interface ListActions {
  link: CellLink;
  /** open a step's details and select it in the DAG */
  open(step: string): void;
}

export function pipelineLists(p: InspectJson, states: StateMap, actions: ListActions): HTMLElement[] {
  const steps = h("section", { class: "kfpj-steps" }, h("h3", {}, `Steps (${p.steps.length})`));
  for (const r of stepRows(p)) {
    const item = h("div", {
      class: "kfpj-step",
      "data-kfp-step": r.name,
      "data-kfp-state": states[r.name]?.state ?? "NONE",
    });
    const open = h("a", { class: "kfpj-link kfpj-open", href: "#", title: "show its details" }, r.name);
    open.onclick = (ev) => {
      ev.preventDefault();
      actions.open(r.name);
    };
    item.append(open, " ", actions.link(r.cell != null ? `cell ${r.cell}` : "", r.cell));
    if (states[r.name]) item.append(h("span", { class: "kfpj-state" }, states[r.name].state));
    if (r.after.length) {
      item.append(h("div", { class: "kfpj-after" }, `after ${r.after.join(", ")}`));
    }
    for (const x of r.receives) {
      item.append(h("div", { class: "kfpj-var" }, `${x.variable} ← ${x.from}`));
    }
    steps.append(item);
  }
  const out = [steps];
  const params = parameterRows(p);
  if (params.length) {
    const box = h("section", { class: "kfpj-params" }, h("h3", {}, "Parameters"));
    for (const x of params) box.append(h("div", {}, `${x.name}: ${x.type} = ${x.value}`));
    out.push(box);
  }
  if (p.metrics?.length) {
    out.push(h("section", { class: "kfpj-metrics-list" }, h("h3", {}, "Metrics"), p.metrics.join(", ")));
  }
  return out;
}
