/**
 * The notebook widget (anywidget's front end): a toolbar (parameters, target, Compile / Run /
 * Submit), the run's status, errors in words, the DAG (dag.ts) and a details panel for the
 * clicked step. All work happens in the kernel: the buttons send a message, the kernel answers
 * by changing the model's traits (graph, states, run, details, error, status, busy).
 */

import { renderDag, type DagView } from "./dag";
import { DETAILS_CSS, type StepDetails, formatValue, renderDetails } from "./details";
import { type PipelineJson, type StateMap, formatDuration, seconds } from "./graph";
import { ensureStyle } from "./style";
import { h } from "./dom";

export { formatSize } from "./details";

/** The part of anywidget's model API the widget uses. */
export interface Model {
  get(name: string): any;
  set(name: string, value: unknown): void;
  save_changes(): void;
  send(content: unknown): void;
  on(event: string, cb: (...args: any[]) => void): void;
  off(event: string, cb?: (...args: any[]) => void): void;
}

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

function render({ model, el }: { model: Model; el: HTMLElement }): () => void {
  ensureStyle(el, "kfp-widget-style", WIDGET_CSS);
  ensureStyle(el, "kfp-details-style", DETAILS_CSS);
  const doc = el.ownerDocument;
  const root = h(doc, "div", { class: "kfp-widget" });
  el.replaceChildren(root);

  const title = h(doc, "span", { class: "kfp-title" });
  const sub = h(doc, "span", { class: "kfp-sub" });
  const head = h(doc, "div", { class: "kfp-head" }, title, sub);
  const paramsRow = h(doc, "div", { class: "kfp-row kfp-params" });
  const engine = h(
    doc,
    "select",
    { "data-kfp-field": "engine", "aria-label": "target" },
    h(doc, "option", { value: "local" }, "this machine"),
    h(doc, "option", { value: "kfp" }, "Kubeflow Pipelines"),
    h(doc, "option", { value: "argo" }, "Argo Workflows"),
  );
  const field = (name: string, placeholder: string, wide = false): HTMLInputElement =>
    h(doc, "input", {
      type: "text",
      "data-kfp-field": name,
      placeholder,
      class: wide ? "kfp-wide" : "",
      "aria-label": name,
    });
  const host = field("host", "https://kfp.example.com", true);
  const namespace = field("namespace", "namespace");
  const experiment = field("experiment", "experiment");
  const tokenEnv = field("token_env", "e.g. KFP_TOKEN", true);
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
  const button = (action: string, text: string, title: string, primary = false): HTMLButtonElement =>
    h(doc, "button", { type: "button", "data-kfp-action": action, title, class: primary ? "kfp-primary" : "" }, text);
  const compileBtn = button("compile", "Compile", "Compile the pipeline (KFP IR, or Argo YAML for Argo) next to the notebook");
  const runBtn = button("run", "Run", "Run the pipeline on this machine (local engine)", true);
  const submitBtn = button("submit", "Submit", "Compile and send the pipeline to the chosen cluster, then follow it");
  const cancelBtn = button("cancel", "Cancel", "Stop the run");
  const status = h(doc, "span", { class: "kfp-status", "data-kfp-status": "" });
  const actions = h(doc, "div", { class: "kfp-row kfp-actions" }, compileBtn, runBtn, submitBtn, cancelBtn, status);
  const errorText = h(doc, "span");
  const errorClose = h(doc, "button", { type: "button", title: "dismiss" }, "×");
  const errorBox = h(doc, "div", { class: "kfp-error", role: "alert", "data-kfp-error": "" }, errorText, errorClose);
  const canvas = h(doc, "div", { class: "kfp-canvas" });
  const details = h(doc, "div", { class: "kfp-details", "data-kfp-details": "" });
  const body = h(doc, "div", { class: "kfp-body" }, canvas, details);
  root.append(head, paramsRow, targetRow, actions, errorBox, body);

  // --- clock of the kernel ----------------------------------------------------------------
  let offset = 0;
  const now = (): number => Date.now() / 1000 + offset;

  // --- the DAG ------------------------------------------------------------------------------
  let view: DagView | null = null;
  let graphKey = "";
  const drawGraph = (): void => {
    const graph = (model.get("graph") ?? {}) as PipelineJson;
    const key = JSON.stringify(graph);
    if (key === graphKey && view) return;
    graphKey = key;
    view?.destroy();
    view = null;
    title.textContent = graph.name ?? "";
    const notebook = String(model.get("notebook") ?? "");
    sub.textContent = [graph.description, notebook.split(/[\\/]/).pop()].filter(Boolean).join(" · ");
    sub.title = notebook;
    if (!graph.steps) {
      canvas.replaceChildren();
      return;
    }
    view = renderDag(canvas, graph, {
      states: model.get("states") as StateMap,
      now,
      onSelect: (step) => {
        model.set("selected", step ?? "");
        model.save_changes();
      },
    });
    const sel = model.get("selected") as string;
    if (sel) view.select(sel);
    drawParams(graph);
  };

  // --- parameters form ------------------------------------------------------------------------
  const invalid = new Map<string, string>();
  const drawParams = (graph: PipelineJson): void => {
    const defaults = graph.parameters ?? {};
    const types = graph.parameter_types ?? {};
    const values = { ...defaults, ...((model.get("params") ?? {}) as Record<string, unknown>) };
    paramsRow.replaceChildren();
    invalid.clear();
    const names = Object.keys(defaults);
    if (!names.length) return;
    paramsRow.append(h(doc, "span", { class: "kfp-muted" }, "parameters"));
    for (const name of names) {
      const type = types[name] ?? "str";
      const value = values[name];
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
        input.value = type === "list" || type === "dict" ? JSON.stringify(value) : String(value ?? "");
      }
      input.addEventListener("change", () => {
        let v: unknown;
        try {
          v = type === "bool" ? input.checked : parseParam(type, input.value);
          invalid.delete(name);
          input.classList.remove("kfp-invalid");
          input.title = `${name} (${type})`;
        } catch (e) {
          const why = `parameter ${name} must be ${(e as Error).message}`;
          invalid.set(name, why);
          input.classList.add("kfp-invalid");
          input.title = why;
          return;
        }
        model.set("params", { ...((model.get("params") ?? {}) as object), [name]: v });
        model.save_changes();
      });
      paramsRow.append(h(doc, "label", {}, `${name}`, input));
    }
  };

  /** Show values the kernel set (e.g. `widget.params = {...}`) without redrawing the form. */
  const syncParams = (): void => {
    const graph = (model.get("graph") ?? {}) as PipelineJson;
    const values = { ...(graph.parameters ?? {}), ...((model.get("params") ?? {}) as Record<string, unknown>) };
    paramsRow.querySelectorAll<HTMLInputElement>("input[data-kfp-param]").forEach((input) => {
      const name = input.getAttribute("data-kfp-param") as string;
      const type = input.getAttribute("data-kfp-type") as string;
      if (input === doc.activeElement || invalid.has(name)) return;
      const v = values[name];
      if (type === "bool") input.checked = Boolean(v);
      else input.value = type === "list" || type === "dict" ? JSON.stringify(v) : String(v ?? "");
    });
  };

  // --- target --------------------------------------------------------------------------------
  const drawTarget = (): void => {
    const t = (model.get("target") ?? {}) as Target;
    engine.value = t.engine || "local";
    host.value = t.host ?? "";
    namespace.value = t.namespace ?? "";
    experiment.value = t.experiment ?? "";
    tokenEnv.value = t.token_env ?? "";
    const names = (model.get("targets") ?? []) as string[];
    saved.replaceChildren(
      h(doc, "option", { value: "" }, "none"),
      ...names.map((n) => h(doc, "option", { value: n }, n)),
    );
    saved.value = t.target && names.includes(t.target) ? t.target : "";
    savedLabel.style.display = names.length ? "" : "none";
    const cluster = engine.value !== "local";
    hostLabel.style.display = engine.value === "kfp" ? "" : "none";
    nsLabel.style.display = cluster ? "" : "none";
    tokenLabel.style.display = cluster ? "" : "none";
    submitBtn.title = cluster
      ? `Compile and send the pipeline to ${engine.value === "kfp" ? "Kubeflow Pipelines" : "Argo Workflows"}, then follow it`
      : "Choose Kubeflow Pipelines or Argo Workflows as the target to submit";
    updateButtons();
  };
  const saveTarget = (): void => {
    model.set("target", {
      ...((model.get("target") ?? {}) as Target),
      engine: engine.value,
      host: host.value.trim(),
      namespace: namespace.value.trim(),
      experiment: experiment.value.trim(),
      token_env: tokenEnv.value.trim(),
      target: saved.value,
    });
    model.save_changes();
  };
  for (const input of [saved, engine, host, namespace, experiment, tokenEnv]) {
    input.addEventListener("change", saveTarget);
  }

  // --- buttons and status ------------------------------------------------------------------------
  const updateButtons = (): void => {
    const busy = model.get("busy") as string;
    const run = (model.get("run") ?? {}) as RunInfo;
    const active = Boolean(run.state && ACTIVE.has(run.state));
    const hasGraph = Boolean(((model.get("graph") ?? {}) as PipelineJson).steps);
    compileBtn.disabled = Boolean(busy);
    runBtn.disabled = Boolean(busy) || active || !hasGraph;
    submitBtn.disabled = Boolean(busy) || active || !hasGraph || engine.value === "local";
    cancelBtn.style.display = active ? "" : "none";
    cancelBtn.disabled = busy === "cancelling";
  };
  const act = (action: string): void => {
    if (invalid.size && action !== "cancel" && action !== "compile") {
      showError([...invalid.values()].join("\n"));
      return;
    }
    model.send({ action, params: model.get("params") ?? {}, target: model.get("target") ?? {} });
  };
  for (const b of [compileBtn, runBtn, submitBtn, cancelBtn]) {
    b.addEventListener("click", () => act(b.getAttribute("data-kfp-action") as string));
  }

  let statusTimer: ReturnType<typeof setInterval> | null = null;
  const drawStatus = (): void => {
    const run = (model.get("run") ?? {}) as RunInfo;
    if (typeof run.clock === "number") offset = run.clock - Date.now() / 1000;
    const parts: (Node | string)[] = [];
    const busy = model.get("busy") as string;
    const text = model.get("status") as string;
    if (run.id || run.state) {
      const states = (model.get("states") ?? {}) as StateMap;
      const all = Object.values(states);
      const done = all.filter((t) => DONE.has(t.state)).length;
      const failed = all.filter((t) => t.state === "FAILED").length;
      const cls = run.state === "SUCCEEDED" ? "kfp-ok" : run.state === "FAILED" ? "kfp-bad" : "";
      parts.push(`${run.engine && run.engine !== "local" ? `${run.engine} ` : ""}run `);
      parts.push(h(doc, "b", { "data-kfp-run": run.id ?? "" }, run.id ?? ""));
      parts.push(" · ", h(doc, "b", { class: cls, "data-kfp-run-state": run.state ?? "" }, run.state ?? ""));
      if (all.length) parts.push(` · ${done}/${all.length} done${failed ? `, ${failed} failed` : ""}`);
      const started = seconds(run.started);
      if (started !== null) {
        const end = seconds(run.finished) ?? now();
        parts.push(` · ${formatDuration(end - started)}`);
      }
      if (run.message) parts.push(` · ${run.message}`);
      if (run.url) {
        parts.push(" · ", h(doc, "a", { href: run.url, target: "_blank", rel: "noopener" }, "open in the cluster's UI"));
      }
      const metrics = Object.entries(run.metrics ?? {});
      if (metrics.length) parts.push(" · ", metrics.map(([k, v]) => `${k} = ${formatValue(v)}`).join(", "));
    }
    if (busy) parts.push(parts.length ? " · " : "", `${busy}…`);
    else if (text) parts.push(parts.length ? " · " : "", text);
    status.replaceChildren(...parts);
    const active = Boolean(run.state && ACTIVE.has(run.state));
    if (active && statusTimer === null) statusTimer = setInterval(drawStatus, 1000);
    if (!active && statusTimer !== null) {
      clearInterval(statusTimer);
      statusTimer = null;
    }
    updateButtons();
  };

  const showError = (text: string): void => {
    errorText.textContent = text;
    errorBox.style.display = text ? "" : "none";
  };
  const drawError = (): void => showError((model.get("error") as string) ?? "");
  errorClose.addEventListener("click", () => {
    showError("");
    model.set("error", "");
    model.save_changes();
  });

  // --- details of the selected step ------------------------------------------------------------
  const drawDetails = (): void => {
    const d = (model.get("details") ?? {}) as StepDetails;
    const sel = model.get("selected") as string;
    if (!sel || !d.step || d.step !== sel) {
      details.style.display = "none";
      details.replaceChildren();
      details.setAttribute("data-kfp-details", "");
      return;
    }
    details.style.display = "";
    details.setAttribute("data-kfp-details", d.step);
    renderDetails(
      details,
      d,
      () => {
        view?.select(null);
        model.set("selected", "");
        model.save_changes();
      },
      { loadInputs: (s) => model.send({ action: "load_inputs", step: s.step, run: s.run_id }) },
    );
  };

  const onGraph = (): void => {
    drawGraph();
    drawStatus();
  };
  const onStates = (): void => {
    view?.update((model.get("states") ?? {}) as StateMap);
    drawStatus();
  };
  const onSelected = (): void => {
    view?.select((model.get("selected") as string) || null);
    drawDetails();
  };
  const handlers: [string, () => void][] = [
    ["change:graph", onGraph],
    ["change:states", onStates],
    ["change:run", drawStatus],
    ["change:busy", drawStatus],
    ["change:status", drawStatus],
    ["change:error", drawError],
    ["change:target", drawTarget],
    ["change:targets", drawTarget],
    ["change:params", syncParams],
    ["change:details", drawDetails],
    ["change:selected", onSelected],
  ];
  for (const [ev, cb] of handlers) model.on(ev, cb);

  drawGraph();
  drawTarget();
  drawStatus();
  drawError();
  drawDetails();
  root.setAttribute("data-kfp-ready", "true");

  return () => {
    for (const [ev, cb] of handlers) model.off(ev, cb);
    if (statusTimer !== null) clearInterval(statusTimer);
    view?.destroy();
  };
}

export default { render };

// The drawing too, for plain pages (the benchmark, browser tests, users' own scripts).
export { layeredLayout, renderDag } from "./dag";
