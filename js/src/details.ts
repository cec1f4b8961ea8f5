/**
 * The details of one step (what the user sees after clicking it), drawn the same way in the
 * notebook widget and in the JupyterLab panel. The data is `kfp_jupyter.jupyter.details`'s
 * `step_details` dict, which both get from Python (the widget's `details` trait, the panel's
 * `GET runs/ID/steps/STEP`), so the two can only differ in where they put the element.
 */

import { ensureStyle } from "./style";
import { h } from "./dom";

export interface Artifact {
  name: string;
  producer?: string | null;
  type?: string | null;
  size?: number | null;
}

export interface StepDetails {
  step?: string;
  kind?: string | null;
  state?: string | null;
  message?: string | null;
  /** the exception, first ("TYPE: message") then the traceback mapped to "cell N, line M" */
  error?: string | null;
  image?: string | null;
  resources?: Record<string, string>;
  parameters?: Record<string, unknown>;
  inputs?: Artifact[];
  outputs?: Artifact[];
  metrics?: Record<string, number>;
  /** the end of the log; after a failure it starts with `error` (then "log:" and the lines) */
  log_tail?: string | null;
  log?: string | null;
  note?: string | null;
  /** the local run the details are of, and whether its stored inputs can be loaded */
  run_id?: string | null;
  inputs_loadable?: boolean;
}

/** What the host of the details (widget or panel) can do for the user. */
export interface DetailsActions {
  /** put the values the step received in the run into the notebook's kernel */
  loadInputs?: (d: StepDetails) => void;
}

export const DETAILS_CSS = `
.kfp-details h4 { margin: 8px 0 2px; font-size: 12px; }
.kfp-details header { display: flex; justify-content: space-between; align-items: center;
  font-weight: 600; font-size: 14px; }
.kfp-details header button { font: inherit; font-size: 12px; height: 20px; padding: 0 6px;
  cursor: pointer; }
.kfp-details table { border-collapse: collapse; width: 100%; font-size: 12px; }
.kfp-details td, .kfp-details th { text-align: left; padding: 1px 4px;
  border-bottom: 1px solid var(--jp-border-color2, #e1e4e8); }
.kfp-details pre { font-size: 11px; max-height: 220px; overflow: auto; margin: 2px 0;
  background: var(--jp-layout-color2, #f3f4f6); padding: 4px; white-space: pre-wrap; }
.kfp-details pre.kfp-details-error { background: #ffebee; color: #7f1010;
  border-left: 3px solid #c62828; }
.kfp-details .kfp-muted { color: var(--jp-ui-font-color2, #59636e); }
`;

export function formatSize(n: number | null | undefined): string {
  if (n === null || n === undefined) return "";
  if (n < 1000) return `${n} B`;
  const units = ["kB", "MB", "GB", "TB"];
  let v = n;
  let i = -1;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

export function formatValue(v: unknown): string {
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(4)));
  return typeof v === "string" ? v : JSON.stringify(v);
}

/**
 * The log without the exception the details show above it: `log_tail` repeats the error first
 * (so older front ends still show it), and showing it twice would bury the log.
 */
export function logWithoutError(d: StepDetails): string {
  const tail = d.log_tail ?? "";
  if (!d.error || !tail.startsWith(d.error)) return tail;
  return tail.slice(d.error.length).replace(/^\s*log:\n/, "").replace(/^\n+/, "");
}

/**
 * Fill `box` with the details of `d`: state and why, image and resources, parameter values,
 * inputs (from which step, type, size), outputs, metrics, the exception then the log. `onClose`
 * adds a close button. The parts carry `data-kfp-detail="state|error|inputs|outputs|metrics|log"`.
 */
export function renderDetails(
  box: HTMLElement,
  d: StepDetails,
  onClose?: () => void,
  actions: DetailsActions = {},
): void {
  const doc = box.ownerDocument;
  ensureStyle(box, "kfp-details-style", DETAILS_CSS);
  const header = h(doc, "header", {}, h(doc, "span", {}, d.step ?? ""));
  if (onClose) {
    const close = h(doc, "button", { type: "button", title: "close" }, "×");
    close.addEventListener("click", onClose);
    header.append(close);
  }
  const items: Node[] = [header];
  const line = [d.state ? d.state.toLowerCase() : "not run yet", d.message].filter(Boolean).join(" — ");
  items.push(h(doc, "div", { class: "kfp-muted", "data-kfp-detail": "state" }, line));
  const res = Object.entries(d.resources ?? {}).map(([k, v]) => `${k}=${v}`).join(", ");
  const kind = d.kind && d.kind !== "python" ? `${d.kind} step` : "";
  items.push(h(doc, "div", { class: "kfp-muted" }, [kind, d.image, res].filter(Boolean).join(" · ")));
  if (d.error) {
    items.push(h(doc, "h4", {}, "error"));
    items.push(h(doc, "pre", { class: "kfp-details-error", "data-kfp-detail": "error" }, d.error));
  }
  const table = (what: string, rows: Artifact[], producer: boolean): void => {
    items.push(h(doc, "h4", {}, what));
    if (!rows.length) {
      items.push(h(doc, "div", { class: "kfp-muted" }, "none"));
      return;
    }
    const head = h(doc, "tr", {}, h(doc, "th", {}, "name"));
    if (producer) head.append(h(doc, "th", {}, "from"));
    head.append(h(doc, "th", {}, "type"), h(doc, "th", {}, "size"));
    const t = h(doc, "table", { "data-kfp-detail": what }, head);
    for (const a of rows) {
      const tr = h(doc, "tr", {}, h(doc, "td", {}, a.name));
      if (producer) tr.append(h(doc, "td", {}, a.producer ?? ""));
      tr.append(h(doc, "td", {}, a.type ?? ""), h(doc, "td", {}, formatSize(a.size)));
      t.append(tr);
    }
    items.push(t);
  };
  const params = Object.entries(d.parameters ?? {});
  if (params.length) {
    items.push(h(doc, "h4", {}, "parameters"));
    items.push(
      h(doc, "div", { "data-kfp-detail": "parameters" }, params.map(([k, v]) => `${k} = ${formatValue(v)}`).join(", ")),
    );
  }
  table("inputs", d.inputs ?? [], true);
  const load = actions.loadInputs;
  if (load && d.inputs_loadable) {
    const button = h(
      doc,
      "button",
      {
        type: "button",
        "data-kfp-action": "load-inputs",
        title: "the values this step received in this run, to run its cell by hand (%kfp inputs)",
      },
      "load inputs into the kernel",
    );
    button.addEventListener("click", () => load(d));
    items.push(h(doc, "div", {}, button));
  }
  table("outputs", d.outputs ?? [], false);
  const metrics = Object.entries(d.metrics ?? {});
  if (metrics.length) {
    items.push(h(doc, "h4", {}, "metrics"));
    const t = h(doc, "table", { "data-kfp-detail": "metrics" });
    for (const [k, v] of metrics) t.append(h(doc, "tr", {}, h(doc, "td", {}, k), h(doc, "td", {}, formatValue(v))));
    items.push(t);
  }
  const log = logWithoutError(d);
  if (log) {
    items.push(h(doc, "h4", {}, "log (last lines)"));
    items.push(h(doc, "pre", { "data-kfp-detail": "log" }, log));
  }
  if (d.note) items.push(h(doc, "div", { class: "kfp-muted" }, d.note));
  box.classList.add("kfp-details");
  box.replaceChildren(...items);
}
