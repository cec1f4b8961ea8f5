/**
 * The notebook widget (anywidget's front end): a toolbar (parameters, target, Compile / Run /
 * Submit), the run's status, errors in words, the DAG (dag.ts) and a details panel for the
 * clicked step. All work happens in the kernel: the buttons send a message, the kernel answers
 * by changing the model's traits (graph, states, run, details, error, status, busy).
 */

import type { AnyModel, AnyWidget, RenderProps } from "@anywidget/types";

import { renderDag, type DagView } from "./dag";
import { DETAILS_CSS, type StepDetails, formatValue, renderDetails } from "./details";
import { type PipelineJson, type StateMap, formatDuration, seconds } from "./graph";
import { ensureStyle } from "./style";
import { h } from "./dom";

export { formatSize } from "./details";

interface RunInfo {
  id?: string;
  engine?: string;
  state?: string;
  message?: string | null;
  url?: string | null;
  metrics?: Record<string, number>;
  started?: number | null;
  finished?: number | null;
  /** the kernel's clock when it sent this, to show elapsed times right on another machine */
  clock?: number;
}

interface Target {
  engine?: string;
  host?: string;
  namespace?: string;
  experiment?: string;
  token_env?: string;
  /** the name of a saved target (`kfp-jupyter targets add`), "" for none */
  target?: string;
}

const ACTIVE = new Set(["PENDING", "RUNNING", "SUBMITTING"]);
const DONE = new Set(["SUCCEEDED", "CACHED"]);

export const WIDGET_CSS = `
.kfp-widget { font-family: var(--jp-ui-font-family, system-ui, sans-serif); font-size: 13px;
  color: var(--jp-ui-font-color1, #1f2328); display: flex; flex-direction: column; gap: 6px; }
.kfp-widget .kfp-head { display: flex; gap: 8px; align-items: baseline; flex-wrap: wrap; }
.kfp-widget .kfp-title { font-weight: 600; font-size: 14px; }
.kfp-widget .kfp-sub { color: var(--jp-ui-font-color2, #59636e); }
.kfp-widget .kfp-row { display: flex; gap: 8px; align-items: center; flex-wrap: wrap; }
.kfp-widget label { display: inline-flex; gap: 4px; align-items: center;
  color: var(--jp-ui-font-color2, #59636e); }
.kfp-widget input, .kfp-widget select, .kfp-widget button { font: inherit; font-size: 12px;
  color: var(--jp-ui-font-color1, #1f2328); background: var(--jp-layout-color1, #fff);
  border: 1px solid var(--jp-border-color1, #b8c0c8); border-radius: 3px; height: 26px;
  box-sizing: border-box; }
.kfp-widget input[type=text], .kfp-widget input[type=number] { padding: 0 6px; width: 110px; }
.kfp-widget input.kfp-wide { width: 200px; }
.kfp-widget input::placeholder { color: var(--jp-ui-font-color3, #8c959f); font-style: italic; opacity: 1; }
.kfp-widget input[type=checkbox] { height: auto; }
.kfp-widget input.kfp-invalid { border-color: #c62828; background: #ffebee; }
.kfp-widget button { padding: 0 12px; cursor: pointer; }
.kfp-widget button.kfp-primary { background: var(--jp-brand-color1, #1976d2); color: #fff;
  border-color: var(--jp-brand-color1, #1976d2); }
.kfp-widget button:disabled { opacity: 0.5; cursor: default; }
.kfp-widget .kfp-status { color: var(--jp-ui-font-color2, #59636e); }
.kfp-widget .kfp-status b { color: var(--jp-ui-font-color1, #1f2328); }
.kfp-widget .kfp-status .kfp-ok { color: #2e7d32; }
.kfp-widget .kfp-status .kfp-bad { color: #c62828; }
.kfp-widget .kfp-error { border: 1px solid #c62828; background: #ffebee; color: #7f1010;
  padding: 6px 8px; border-radius: 3px; white-space: pre-wrap; display: flex; gap: 8px; }
.kfp-widget .kfp-error > span { flex: 1; }
.kfp-widget .kfp-error button { height: 20px; padding: 0 6px; }
.kfp-widget .kfp-body { display: flex; gap: 6px; align-items: stretch; }
.kfp-widget .kfp-canvas { flex: 1; min-width: 0; }
.kfp-widget .kfp-details { width: 330px; flex: none; border: 1px solid var(--jp-border-color1, #b8c0c8);
  border-radius: 4px; padding: 6px 8px; overflow: auto; max-height: 560px; box-sizing: border-box;
  background: var(--jp-layout-color1, #fff); }
.kfp-widget .kfp-muted { color: var(--jp-ui-font-color2, #59636e); }
`;

/** Turn a form field's text into the parameter's type; throws Error with the reason. */
export function parseParam(type: string, text: string): unknown {
  const t = text.trim();
  switch (type) {
    case "int": {
      if (!/^[+-]?\d+$/.test(t)) throw new Error("a whole number");
      return Number.parseInt(t, 10);
    }
    case "float": {
      const v = Number(t);
      if (t === "" || Number.isNaN(v)) throw new Error("a number");
      return v;
    }
    case "list":
    case "dict": {
      let v: unknown;
      try {
        v = JSON.parse(t);
      } catch {
        throw new Error(`JSON (${type === "list" ? "[1, 2]" : '{"a": 1}'})`);
      }
      const ok = type === "list" ? Array.isArray(v) : v !== null && typeof v === "object" && !Array.isArray(v);
      if (!ok) throw new Error(`a JSON ${type}`);
      return v;
    }
    default:
      return text;
  }
}

/** The model's synced traits, as kfp_jupyter/jupyter/widget.py declares them. */
type Traits = {
  /** `Pipeline.to_json()`; {} until the notebook has a pipeline */
  graph: Partial<PipelineJson>;
  states: StateMap;
  run: RunInfo;
  params: Record<string, unknown>;
  target: Target;
  /** the saved targets' names */
  targets: string[];
  /** the engines to offer, in order (jupyter/settings.py ENGINES) */
  engines: string[];
  selected: string;
  details: StepDetails;
  error: string;
  status: string;
  busy: string;
  notebook: string;
};

export type Model = AnyModel<Traits>;

type Action = "compile" | "run" | "submit" | "cancel";

/** What the widget asks of the kernel (kfp_jupyter/jupyter/widget.py answers each action). */
type Request =
  | { action: Action; params: Record<string, unknown>; target: Target }
  | { action: "load_inputs"; step: string | undefined; run: string | null | undefined };

/** The widget's elements: built once by `build`, then filled from the model by the draw functions. */
interface Parts {
  root: HTMLElement;
  title: HTMLElement;
  sub: HTMLElement;
  paramsRow: HTMLElement;
  engine: HTMLSelectElement;
  host: HTMLInputElement;
  namespace: HTMLInputElement;
  experiment: HTMLInputElement;
  tokenEnv: HTMLInputElement;
  saved: HTMLSelectElement;
  savedLabel: HTMLElement;
  hostLabel: HTMLElement;
  nsLabel: HTMLElement;
  tokenLabel: HTMLElement;
  buttons: Record<Action, HTMLButtonElement>;
  status: HTMLElement;
  errorText: HTMLElement;
  errorClose: HTMLButtonElement;
  errorBox: HTMLElement;
  canvas: HTMLElement;
  details: HTMLElement;
}

/** One rendered widget: its model, its elements, and what the draw functions keep between calls. */
interface View {
  model: Model;
  doc: Document;
  parts: Parts;
  /** seconds to add to this browser's clock to get the kernel's (elapsed times stay right) */
  offset: number;
  dag: DagView | null;
  /** the graph drawn last: the DAG is redrawn only when it changes */
  graphKey: string;
  /** parameter -> why its field's text is refused; nothing runs until it is fixed */
  invalid: Map<string, string>;
  /** ticks the elapsed time while a run is active */
  statusTimer: ReturnType<typeof setInterval> | null;
}

const kernelNow = (v: View): number => Date.now() / 1000 + v.offset;

function send(v: View, request: Request): void {
  v.model.send(request);
}

/** How each engine the kernel offers (the `engines` trait) is shown; an engine not named here is
 * shown by its name. */
const ENGINE_LABELS: Record<string, string> = {
  local: "this machine",
  kfp: "Kubeflow Pipelines",
  argo: "Argo Workflows",
};

function build(doc: Document, engines: readonly string[]): Parts {
  const title = h(doc, "span", { class: "kfp-title" });
  const sub = h(doc, "span", { class: "kfp-sub" });
  const head = h(doc, "div", { class: "kfp-head" }, title, sub);
  const paramsRow = h(doc, "div", { class: "kfp-row kfp-params" });
  const engine = h(
    doc,
    "select",
    { "data-kfp-field": "engine", "aria-label": "target" },
    ...engines.map((value) => h(doc, "option", { value }, ENGINE_LABELS[value] ?? value)),
  );
  const field = (name: string, placeholder: string, wide = false): HTMLInputElement =>
    h(doc, "input", {
      type: "text",
      "data-kfp-field": name,
      placeholder,
      class: wide ? "kfp-wide" : "",
      "aria-label": name,
    });
  // hints say what an empty field means, then an example: never a bare value that could be
  // taken for a setting
  const host = field("host", "e.g. https://kfp.example.com", true);
  const namespace = field("namespace", "the default");
  const experiment = field("experiment", "the notebook's");
  const tokenEnv = field("token_env", "none; e.g. KFP_TOKEN", true);
  tokenEnv.title = "The NAME of the environment variable holding the token (never the token)";
  const saved = h(doc, "select", { "data-kfp-field": "target", "aria-label": "saved target" });
  const hostLabel = h(doc, "label", {}, "host", host);
  const nsLabel = h(doc, "label", {}, "namespace", namespace);
  const tokenLabel = h(doc, "label", {}, "token variable", tokenEnv);
  const savedLabel = h(doc, "label", {}, "saved", saved);
  const targetRow = h(
    doc,
    "div",
    { class: "kfp-row kfp-target" },
    savedLabel,
    h(doc, "label", {}, "target", engine),
    hostLabel,
    nsLabel,
    tokenLabel,
    h(doc, "label", {}, "experiment", experiment),
  );
  const button = (action: Action, text: string, title: string, primary = false): HTMLButtonElement =>
    h(doc, "button", { type: "button", "data-kfp-action": action, title, class: primary ? "kfp-primary" : "" }, text);
  const buttons: Record<Action, HTMLButtonElement> = {
    compile: button("compile", "Compile", "Compile the pipeline (KFP IR, or Argo YAML for Argo) next to the notebook"),
    run: button("run", "Run", "Run the pipeline on this machine (local engine)", true),
    submit: button("submit", "Submit", "Compile and send the pipeline to the chosen cluster, then follow it"),
    cancel: button("cancel", "Cancel", "Stop the run"),
  };
  const status = h(doc, "span", { class: "kfp-status", "data-kfp-status": "" });
  const actions = h(doc, "div", { class: "kfp-row kfp-actions" }, ...Object.values(buttons), status);
  const errorText = h(doc, "span");
  const errorClose = h(doc, "button", { type: "button", title: "dismiss" }, "×");
  const errorBox = h(doc, "div", { class: "kfp-error", role: "alert", "data-kfp-error": "" }, errorText, errorClose);
  const canvas = h(doc, "div", { class: "kfp-canvas" });
  const details = h(doc, "div", { class: "kfp-details", "data-kfp-details": "" });
  const body = h(doc, "div", { class: "kfp-body" }, canvas, details);
  const root = h(doc, "div", { class: "kfp-widget" }, head, paramsRow, targetRow, actions, errorBox, body);
  return {
    root, title, sub, paramsRow, engine, host, namespace, experiment, tokenEnv, saved, savedLabel,
    hostLabel, nsLabel, tokenLabel, buttons, status, errorText, errorClose, errorBox, canvas, details,
  };
}

// --- the DAG ------------------------------------------------------------------------------------

function drawGraph(v: View): void {
  const { model, parts } = v;
  const graph = model.get("graph") ?? {};
  const key = JSON.stringify(graph);
  if (key === v.graphKey && v.dag) return;
  v.graphKey = key;
  v.dag?.destroy();
  v.dag = null;
  parts.title.textContent = graph.name ?? "";
  const notebook = String(model.get("notebook") ?? "");
  parts.sub.textContent = [graph.description, notebook.split(/[\\/]/).pop()].filter(Boolean).join(" · ");
  parts.sub.title = notebook;
  const steps = graph.steps;
  if (!steps) {
    parts.canvas.replaceChildren();
    return;
  }
  v.dag = renderDag(parts.canvas, { ...graph, steps }, {
    states: model.get("states"),
    now: () => kernelNow(v),
    onSelect: (step) => {
      model.set("selected", step ?? "");
      model.save_changes();
    },
  });
  const sel = model.get("selected");
  if (sel) v.dag.select(sel);
  drawParams(v, graph);
}

// --- parameters form ----------------------------------------------------------------------------

/** A value as its field shows it: lists and dicts as JSON, the rest as text. */
function fieldText(type: string, value: unknown): string {
  return type === "list" || type === "dict" ? JSON.stringify(value) : String(value ?? "");
}

function drawParams(v: View, graph: Partial<PipelineJson>): void {
  const { doc, model, parts } = v;
  const defaults = graph.parameters ?? {};
  const types = graph.parameter_types ?? {};
  const values = { ...defaults, ...(model.get("params") ?? {}) };
  parts.paramsRow.replaceChildren();
  v.invalid.clear();
  const names = Object.keys(defaults);
  if (!names.length) return;
  parts.paramsRow.append(h(doc, "span", { class: "kfp-muted" }, "parameters"));
  for (const name of names) {
    const input = paramInput(v, name, types[name] ?? "str", values[name]);
    parts.paramsRow.append(h(doc, "label", {}, `${name}`, input));
  }
}

/** A parameter's field; a change the kernel can take goes to the model, else the field says why. */
function paramInput(v: View, name: string, type: string, value: unknown): HTMLInputElement {
  const { doc, model } = v;
  let input: HTMLInputElement;
  if (type === "bool") {
    input = h(doc, "input", { type: "checkbox", "data-kfp-param": name, "data-kfp-type": type });
    input.checked = Boolean(value);
  } else {
    input = h(doc, "input", {
      type: type === "int" || type === "float" ? "number" : "text",
      "data-kfp-param": name,
      "data-kfp-type": type,
      title: `${name} (${type})`,
    });
    if (type === "int") input.step = "1";
    if (type === "float") input.step = "any";
    input.value = fieldText(type, value);
  }
  input.addEventListener("change", () => {
    let parsed: unknown;
    try {
      parsed = type === "bool" ? input.checked : parseParam(type, input.value);
      v.invalid.delete(name);
      input.classList.remove("kfp-invalid");
      input.title = `${name} (${type})`;
    } catch (e) {
      const why = `parameter ${name} must be ${(e as Error).message}`;
      v.invalid.set(name, why);
      input.classList.add("kfp-invalid");
      input.title = why;
      return;
    }
    model.set("params", { ...(model.get("params") ?? {}), [name]: parsed });
    model.save_changes();
  });
  return input;
}

/** Show values the kernel set (e.g. `widget.params = {...}`) without redrawing the form. */
function syncParams(v: View): void {
  const { doc, model, parts } = v;
  const graph = model.get("graph") ?? {};
  const values = { ...(graph.parameters ?? {}), ...(model.get("params") ?? {}) };
  parts.paramsRow.querySelectorAll<HTMLInputElement>("input[data-kfp-param]").forEach((input) => {
    const name = input.getAttribute("data-kfp-param") ?? "";
    const type = input.getAttribute("data-kfp-type") ?? "str";
    if (input === doc.activeElement || v.invalid.has(name)) return;
    const value = values[name];
    if (type === "bool") input.checked = Boolean(value);
    else input.value = fieldText(type, value);
  });
}

// --- target -------------------------------------------------------------------------------------

function drawTarget(v: View): void {
  const { doc, model, parts } = v;
  const t = model.get("target") ?? {};
  const engine = parts.engine;
  engine.value = t.engine || "local";
  parts.host.value = t.host ?? "";
  parts.namespace.value = t.namespace ?? "";
  parts.experiment.value = t.experiment ?? "";
  parts.tokenEnv.value = t.token_env ?? "";
  const names = model.get("targets") ?? [];
  parts.saved.replaceChildren(
    h(doc, "option", { value: "" }, "none"),
    ...names.map((n) => h(doc, "option", { value: n }, n)),
  );
  parts.saved.value = t.target && names.includes(t.target) ? t.target : "";
  parts.savedLabel.style.display = names.length ? "" : "none";
  const cluster = engine.value !== "local";
  parts.hostLabel.style.display = engine.value === "kfp" ? "" : "none";
  parts.nsLabel.style.display = cluster ? "" : "none";
  parts.tokenLabel.style.display = cluster ? "" : "none";
  parts.buttons.submit.title = cluster
    ? `Compile and send the pipeline to ${ENGINE_LABELS[engine.value] ?? engine.value}, then follow it`
    : "Choose Kubeflow Pipelines or Argo Workflows as the target to submit";
  updateButtons(v);
}

function saveTarget(v: View): void {
  const { model, parts } = v;
  model.set("target", {
    ...(model.get("target") ?? {}),
    engine: parts.engine.value,
    host: parts.host.value.trim(),
    namespace: parts.namespace.value.trim(),
    experiment: parts.experiment.value.trim(),
    token_env: parts.tokenEnv.value.trim(),
    target: parts.saved.value,
  });
  model.save_changes();
}

// --- buttons and status -------------------------------------------------------------------------

const isActive = (run: RunInfo): boolean => Boolean(run.state && ACTIVE.has(run.state));

function updateButtons(v: View): void {
  const { model, parts } = v;
  const busy = model.get("busy");
  const active = isActive(model.get("run") ?? {});
  const hasGraph = Boolean((model.get("graph") ?? {}).steps);
  const { compile, run, submit, cancel } = parts.buttons;
  compile.disabled = Boolean(busy);
  run.disabled = Boolean(busy) || active || !hasGraph;
  submit.disabled = Boolean(busy) || active || !hasGraph || parts.engine.value === "local";
  cancel.style.display = active ? "" : "none";
  cancel.disabled = busy === "cancelling";
}

function act(v: View, action: Action): void {
  if (v.invalid.size && action !== "cancel" && action !== "compile") {
    showError(v, [...v.invalid.values()].join("\n"));
    return;
  }
  send(v, { action, params: v.model.get("params") ?? {}, target: v.model.get("target") ?? {} });
}

/** The status line of a run: engine, id, state, progress, elapsed time, link, metrics. */
function runStatus(v: View, run: RunInfo): (Node | string)[] {
  const { doc, model } = v;
  const parts: (Node | string)[] = [];
  const all = Object.values(model.get("states") ?? {});
  const done = all.filter((t) => DONE.has(t.state)).length;
  const failed = all.filter((t) => t.state === "FAILED").length;
  const cls = run.state === "SUCCEEDED" ? "kfp-ok" : run.state === "FAILED" ? "kfp-bad" : "";
  parts.push(`${run.engine && run.engine !== "local" ? `${run.engine} ` : ""}run `);
  parts.push(h(doc, "b", { "data-kfp-run": run.id ?? "" }, run.id ?? ""));
  parts.push(" · ", h(doc, "b", { class: cls, "data-kfp-run-state": run.state ?? "" }, run.state ?? ""));
  if (all.length) parts.push(` · ${done}/${all.length} done${failed ? `, ${failed} failed` : ""}`);
  const started = seconds(run.started);
  if (started !== null) {
    const end = seconds(run.finished) ?? kernelNow(v);
    parts.push(` · ${formatDuration(end - started)}`);
  }
  if (run.message) parts.push(` · ${run.message}`);
  if (run.url) {
    parts.push(" · ", h(doc, "a", { href: run.url, target: "_blank", rel: "noopener" }, "open in the cluster's UI"));
  }
  const metrics = Object.entries(run.metrics ?? {});
  if (metrics.length) parts.push(" · ", metrics.map(([k, x]) => `${k} = ${formatValue(x)}`).join(", "));
  return parts;
}

function drawStatus(v: View): void {
  const { model } = v;
  const run = model.get("run") ?? {};
  if (typeof run.clock === "number") v.offset = run.clock - Date.now() / 1000;
  const parts = run.id || run.state ? runStatus(v, run) : [];
  const busy = model.get("busy");
  const text = model.get("status");
  if (busy) parts.push(parts.length ? " · " : "", `${busy}…`);
  else if (text) parts.push(parts.length ? " · " : "", text);
  v.parts.status.replaceChildren(...parts);
  const active = isActive(run);
  if (active && v.statusTimer === null) v.statusTimer = setInterval(() => drawStatus(v), 1000);
  if (!active && v.statusTimer !== null) {
    clearInterval(v.statusTimer);
    v.statusTimer = null;
  }
  updateButtons(v);
}

function showError(v: View, text: string): void {
  v.parts.errorText.textContent = text;
  v.parts.errorBox.style.display = text ? "" : "none";
}

// --- details of the selected step ---------------------------------------------------------------

function drawDetails(v: View): void {
  const { model } = v;
  const box = v.parts.details;
  const d = model.get("details") ?? {};
  const sel = model.get("selected");
  if (!sel || !d.step || d.step !== sel) {
    box.style.display = "none";
    box.replaceChildren();
    box.setAttribute("data-kfp-details", "");
    return;
  }
  box.style.display = "";
  box.setAttribute("data-kfp-details", d.step);
  renderDetails(
    box,
    d,
    () => {
      v.dag?.select(null);
      model.set("selected", "");
      model.save_changes();
    },
    { loadInputs: (s) => send(v, { action: "load_inputs", step: s.step, run: s.run_id }) },
  );
}

// --- wiring -------------------------------------------------------------------------------------

/** The user's side: fields and buttons change the model or ask the kernel. */
function listen(v: View): void {
  const { model, parts } = v;
  for (const input of [parts.saved, parts.engine, parts.host, parts.namespace, parts.experiment, parts.tokenEnv]) {
    input.addEventListener("change", () => saveTarget(v));
  }
  for (const [action, b] of Object.entries(parts.buttons) as [Action, HTMLButtonElement][]) {
    b.addEventListener("click", () => act(v, action));
  }
  parts.errorClose.addEventListener("click", () => {
    showError(v, "");
    model.set("error", "");
    model.save_changes();
  });
}

/** The kernel's side: which traits redraw what. */
function modelHandlers(v: View): [`change:${keyof Traits}`, () => void][] {
  const status = (): void => drawStatus(v);
  const target = (): void => drawTarget(v);
  const details = (): void => drawDetails(v);
  const graph = (): void => {
    drawGraph(v);
    drawStatus(v);
  };
  const states = (): void => {
    v.dag?.update(v.model.get("states") ?? {});
    drawStatus(v);
  };
  const selected = (): void => {
    v.dag?.select(v.model.get("selected") || null);
    drawDetails(v);
  };
  return [
    ["change:graph", graph],
    ["change:states", states],
    ["change:run", status],
    ["change:busy", status],
    ["change:status", status],
    ["change:error", () => showError(v, v.model.get("error") ?? "")],
    ["change:target", target],
    ["change:targets", target],
    ["change:params", () => syncParams(v)],
    ["change:details", details],
    ["change:selected", selected],
  ];
}

function render({ model, el }: Pick<RenderProps<Traits>, "model" | "el">): () => void {
  ensureStyle(el, "kfp-widget-style", WIDGET_CSS);
  ensureStyle(el, "kfp-details-style", DETAILS_CSS);
  const doc = el.ownerDocument;
  const parts = build(doc, model.get("engines") ?? Object.keys(ENGINE_LABELS));
  el.replaceChildren(parts.root);
  const v: View = { model, doc, parts, offset: 0, dag: null, graphKey: "", invalid: new Map(), statusTimer: null };
  listen(v);
  const handlers = modelHandlers(v);
  for (const [ev, cb] of handlers) model.on(ev, cb);

  drawGraph(v);
  drawTarget(v);
  drawStatus(v);
  showError(v, model.get("error") ?? "");
  drawDetails(v);
  parts.root.setAttribute("data-kfp-ready", "true");

  return () => {
    for (const [ev, cb] of handlers) model.off(ev, cb);
    if (v.statusTimer !== null) clearInterval(v.statusTimer);
    v.dag?.destroy();
  };
}

export default { render } satisfies AnyWidget<Traits>;

// The drawing too, for plain pages (the benchmark, browser tests, users' own scripts).
export { layeredLayout, renderDag } from "./dag";
