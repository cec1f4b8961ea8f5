/**
 * Draw a pipeline as a DAG into any element: no Jupyter, no framework, no dependencies.
 *
 * Used by the notebook widget (anywidget) and by the JupyterLab extension's panel, so both show
 * the same picture. Give it the JSON of `kfp-jupyter inspect --json` and, while a run goes on,
 * the task states (from run events or `runs show --json`); it keeps the DOM in step cheaply
 * (only changed nodes are touched), with pan, zoom, a step finder and selection.
 *
 * Every node carries `data-kfp-step="NAME"` and `data-kfp-state="STATE"` (the engine's state
 * names, `NONE` before any run) for tests and users' own scripts.
 */

import {
  type DagEdge,
  type PipelineJson,
  type StateMap,
  type StepJson,
  type TaskState,
  pipelineEdges,
  resourceBadges,
  stateText,
} from "./graph";
import { type Layout, layeredLayout } from "./layout";
import { ensureStyle } from "./style";

export * from "./graph";
export { layeredLayout } from "./layout";
export type { Layout, LayoutEdge, LayoutNode, LayoutOptions, PlacedEdge, PlacedNode } from "./layout";
export { DAG_CSS, ensureStyle } from "./style";
export {
  type Artifact,
  DETAILS_CSS,
  type DetailsActions,
  type StepDetails,
  formatSize,
  formatValue,
  logWithoutError,
  renderDetails,
} from "./details";

export const NODE_WIDTH = 200;
export const NODE_HEIGHT = 72;
const LABEL_HEIGHT = 16;
const LABEL_MAX_CHARS = 24;
const MIN_SCALE = 0.08;
const MAX_SCALE = 3;
/** The smallest scale the first view uses: below it names cannot be read, so pan instead. */
const READABLE_SCALE = 0.6;

export interface DagOptions {
  states?: StateMap;
  /** Called with the step's name when a node is clicked, null when the selection is cleared. */
  onSelect?: (step: string | null) => void;
  /** The current time in seconds in the run's clock (for "running 0:12"); default: this browser's. */
  now?: () => number;
  /** Height of the view in CSS pixels; default: the graph's own height, at most `maxHeight`. */
  height?: number;
  maxHeight?: number;
  /**
   * Fit the whole pipeline into the view's width (however small that makes it) and make the view
   * as high as the drawing then is (up to `maxHeight`): for narrow places such as a side panel.
   */
  fitWidth?: boolean;
}

export interface DagView {
  /** The element the view created inside the container. */
  readonly element: HTMLElement;
  readonly layout: Layout;
  /** Show new task states (missing steps go back to NONE). */
  update(states: StateMap): void;
  /** Highlight one step (and its edges), or none. Does not call onSelect. */
  select(step: string | null): void;
  /** Centre a step in the view and select it. */
  focus(step: string): void;
  fit(): void;
  zoomBy(factor: number): void;
  /** The current zoom factor. */
  scale(): number;
  /** Measure the view again (its container was resized) and, unless the user moved it, refit. */
  refit(): void;
  /** Mark these steps as having problems (the notebook's analysis named them); [] for none. */
  setProblems(steps: string[]): void;
  destroy(): void;
}

const esc = (s: string): string =>
  s.replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] as string,
  );

const clip = (s: string, max: number): string => (s.length > max ? `${s.slice(0, max - 1)}…` : s);

/** "a, b +3": as many variable names as fit, and how many more there are. */
export function edgeLabel(variables: string[], max: number = LABEL_MAX_CHARS): string {
  let text = "";
  let shown = 0;
  for (const v of variables) {
    const next = text ? `${text}, ${v}` : v;
    const rest = variables.length - shown - 1;
    if (next.length + (rest ? ` +${rest}`.length : 0) > max && shown > 0) break;
    text = next;
    shown++;
  }
  if (shown === 0) return "";
  text = clip(text, max);
  return shown < variables.length ? `${text} +${variables.length - shown}` : text;
}

function labelWidth(text: string): number {
  return Math.ceil(text.length * 6.2) + 10;
}

function shortImage(image: string | undefined): string {
  if (!image) return "";
  // registry paths are long; the last component with its tag says what it is
  const parts = image.split("/");
  return parts[parts.length - 1];
}

function nodeTitle(s: StepJson, t: TaskState | undefined): string {
  const lines = [s.name];
  if (s.image) lines.push(`image: ${s.image}`);
  if (s.packages?.length) lines.push(`packages: ${s.packages.join(", ")}`);
  if (s.inputs?.length) lines.push(`inputs: ${s.inputs.join(", ")}`);
  if (s.outputs?.length) lines.push(`outputs: ${s.outputs.join(", ")}`);
  if (s.parameters?.length) lines.push(`parameters: ${s.parameters.join(", ")}`);
  if (t?.state) lines.push(`state: ${t.state}${t.message ? ` — ${t.message}` : ""}`);
  return lines.join("\n");
}

/** What runs a step, as a short tag on its node: nothing for the notebook's own Python. */
export function kindTag(kind: string | undefined): string {
  switch (kind) {
    case "component":
      return "◆ component";
    case "container":
      return "▣ container";
    case "resource":
      return "☸ resource";
    default:
      return "";
  }
}

function edgePath(points: { x: number; y: number }[]): string {
  let d = `M${points[0].x.toFixed(1)},${points[0].y.toFixed(1)}`;
  for (let i = 1; i < points.length; i++) {
    const a = points[i - 1];
    const b = points[i];
    const dy = (b.y - a.y) / 2;
    d += `C${a.x.toFixed(1)},${(a.y + dy).toFixed(1)} ${b.x.toFixed(1)},${(b.y - dy).toFixed(1)} ${b.x.toFixed(1)},${b.y.toFixed(1)}`;
  }
  return d;
}

let uid = 0;

/** Draw `pipeline` into `container` (its content is replaced) and return a handle to update it. */
export function renderDag(
  container: HTMLElement,
  pipeline: PipelineJson,
  options: DagOptions = {},
): DagView {
  ensureStyle(container);
  const doc = container.ownerDocument;
  const id = `kfp-dag-${++uid}`;
  const steps = pipeline.steps ?? [];
  const edges: DagEdge[] = pipelineEdges(pipeline);
  const labels = edges.map((e) => edgeLabel(e.variables));
  const layout = layeredLayout(
    steps.map((s) => ({ id: s.name, width: NODE_WIDTH, height: NODE_HEIGHT })),
    edges.map((e, i) => ({
      source: e.source,
      target: e.target,
      label: labels[i] ? { width: labelWidth(labels[i]), height: LABEL_HEIGHT } : undefined,
    })),
  );
  const now = options.now ?? ((): number => Date.now() / 1000);

  const root = doc.createElement("div");
  root.className = "kfp-dag";
  root.tabIndex = 0;
  root.setAttribute("data-kfp-dag", pipeline.name ?? "");
  container.replaceChildren(root);

  if (steps.length === 0) {
    root.innerHTML = `<div class="kfp-dag-empty">This pipeline has no steps yet.</div>`;
  }

  const viewHeight = (): number => {
    if (options.height) return options.height;
    // room below the graph for the zoom tools
    return Math.max(options.fitWidth ? 80 : 160, Math.min(options.maxHeight ?? 560, Math.ceil(layout.height) + 12));
  };
  // measured now, while the element is empty: measuring after the drawing is in would make the
  // browser lay out the whole SVG an extra time
  const initialWidth = root.clientWidth || container.clientWidth || 800;

  // --- static SVG, built as one string (fast for hundreds of nodes) ---------------------------
  const parts: string[] = [];
  parts.push(
    `<svg class="kfp-dag-svg" style="height:${viewHeight()}px" xmlns="http://www.w3.org/2000/svg" role="img" aria-label="pipeline ${esc(pipeline.name ?? "")}">`,
    `<defs><marker id="${id}-arrow" viewBox="0 0 10 10" refX="10" refY="5" markerUnits="userSpaceOnUse" markerWidth="9" markerHeight="9" orient="auto-start-reverse"><path class="kfp-arrow" d="M0,0L10,5L0,10z"/></marker></defs>`,
    `<g class="kfp-dag-viewport"><g class="kfp-edges">`,
  );
  const placed = layout.edges;
  const edgeOf = new Map<string, number>();
  edges.forEach((e, i) => edgeOf.set(`${e.source}\u0000${e.target}`, i));
  placed.forEach((pe, k) => {
    const i = edgeOf.get(`${pe.source}\u0000${pe.target}`) ?? k;
    const e = edges[i];
    const cls = e.variables.length ? "kfp-edge" : "kfp-edge kfp-order-only";
    parts.push(
      `<g class="${cls}" data-kfp-source="${esc(pe.source)}" data-kfp-target="${esc(pe.target)}">`,
      `<path d="${edgePath(pe.points)}" marker-end="url(#${id}-arrow)"/></g>`,
    );
  });
  parts.push(`</g><g class="kfp-edge-labels">`);
  placed.forEach((pe, k) => {
    const i = edgeOf.get(`${pe.source}\u0000${pe.target}`) ?? k;
    const text = labels[i];
    if (!text || !pe.label) return;
    const w = labelWidth(text);
    parts.push(
      `<g class="kfp-edge-label" data-kfp-source="${esc(pe.source)}" data-kfp-target="${esc(pe.target)}" transform="translate(${pe.label.x.toFixed(1)},${pe.label.y.toFixed(1)})">`,
      `<title>${esc(edges[i].variables.join(", "))}</title>`,
      `<rect x="${-w / 2}" y="${-LABEL_HEIGHT / 2}" width="${w}" height="${LABEL_HEIGHT}" rx="3"/>`,
      `<text text-anchor="middle" dominant-baseline="central">${esc(text)}</text></g>`,
    );
  });
  parts.push(`</g><g class="kfp-nodes">`);
  const W = NODE_WIDTH;
  const H = NODE_HEIGHT;
  for (const s of steps) {
    const p = layout.nodes.get(s.name);
    if (!p) continue;
    const badges = resourceBadges(s);
    const badgeSvg = badges
      .map((b, i) => {
        const sep = i ? " · " : "";
        return b.startsWith("GPU ")
          ? `${sep}<tspan class="kfp-badge-gpu">${esc(b)}</tspan>`
          : `${sep}${esc(b)}`;
      })
      .join("");
    const kind = s.kind || "python";
    const tag = kindTag(kind);
    parts.push(
      `<g class="kfp-node" data-kfp-step="${esc(s.name)}" data-kfp-kind="${esc(kind)}" data-kfp-state="NONE" transform="translate(${(p.x - W / 2).toFixed(1)},${(p.y - H / 2).toFixed(1)})">`,
      `<title>${esc(nodeTitle(s, undefined))}</title>`,
      `<rect class="kfp-node-box" width="${W}" height="${H}" rx="${kind === "python" ? 6 : 1}"/>`,
      tag ? `<text class="kfp-node-kind" x="${W - 6}" y="64" text-anchor="end">${esc(tag)}</text>` : "",
      `<rect class="kfp-node-stripe" width="5" height="${H}" rx="2"/>`,
      `<text class="kfp-node-name" x="13" y="19">${esc(clip(s.name, 24))}</text>`,
      `<text class="kfp-node-image" x="13" y="34">${esc(clip(shortImage(s.image), 30))}</text>`,
      `<text class="kfp-node-badges" x="13" y="49">${badgeSvg}</text>`,
      `<text class="kfp-node-state" x="13" y="64"></text>`,
      `</g>`,
    );
  }
  parts.push(`</g></g></svg>`);
  parts.push(
    `<div class="kfp-dag-bar">`,
    `<div class="kfp-dag-hint">${steps.length} step${steps.length === 1 ? "" : "s"} · drag to pan · Ctrl+wheel to zoom</div>`,
    `<div class="kfp-dag-tools">`,
    `<input class="kfp-dag-find" type="search" placeholder="find step" list="${id}-steps" aria-label="find a step">`,
    `<datalist id="${id}-steps">${steps.map((s) => `<option value="${esc(s.name)}"></option>`).join("")}</datalist>`,
    `<button type="button" data-kfp-zoom="out" title="zoom out (-)">−</button>`,
    `<button type="button" data-kfp-zoom="in" title="zoom in (+)">+</button>`,
    `<button type="button" data-kfp-zoom="fit" title="fit the whole pipeline (0)">fit</button>`,
    `<button type="button" data-kfp-zoom="one" title="actual size (1)">1:1</button>`,
    `</div></div>`,
  );
  if (steps.length) root.innerHTML = parts.join("");

  const svg = root.querySelector("svg.kfp-dag-svg") as SVGSVGElement | null;
  const viewport = root.querySelector(".kfp-dag-viewport") as SVGGElement | null;
  const nodeEls = new Map<string, SVGGElement>();
  const stateEls = new Map<string, SVGTextElement>();
  const titleEls = new Map<string, SVGTitleElement>();
  root.querySelectorAll<SVGGElement>(".kfp-node").forEach((g) => {
    const name = g.getAttribute("data-kfp-step") as string;
    nodeEls.set(name, g);
    stateEls.set(name, g.querySelector(".kfp-node-state") as SVGTextElement);
    titleEls.set(name, g.querySelector<SVGTitleElement>("title") as SVGTitleElement);
  });
  const stepByName = new Map(steps.map((s) => [s.name, s]));

  // --- view: pan and zoom ------------------------------------------------------------------------
  let tx = 0;
  let ty = 0;
  let k = 1;
  let touched = false; // the user moved the view: stop fitting on resize

  // The view's size, kept up to date by a ResizeObserver: reading clientWidth after a change to
  // the drawing would force the browser to lay out the whole SVG again.
  let vw = 0;
  let vh = 0;
  vw = initialWidth;
  vh = viewHeight();
  const width = (): number => vw;
  const height = (): number => vh;

  const apply = (): void => {
    if (!viewport) return;
    viewport.setAttribute("transform", `translate(${tx.toFixed(1)},${ty.toFixed(1)}) scale(${k.toFixed(4)})`);
    root.classList.toggle("kfp-lod-mid", k < 0.5 && k >= 0.28);
    root.classList.toggle("kfp-lod-low", k < 0.28);
  };
  const fitScale = (): number =>
    Math.min(MAX_SCALE, 1, width() / layout.width, height() / layout.height);
  const initialView = (): void => {
    if (options.fitWidth && !options.height) {
      // the whole width, and only as high as the drawing then is
      k = Math.max(MIN_SCALE, Math.min(1, width() / layout.width));
      vh = Math.max(80, Math.min(options.maxHeight ?? 560, Math.ceil(layout.height * k) + 12));
      svg?.style.setProperty("height", `${vh}px`);
      tx = (width() - layout.width * k) / 2;
      ty = 4;
      apply();
      return;
    }
    // the whole pipeline if it can be read that way, else readable and starting at the top
    k = Math.max(fitScale(), Math.min(1, READABLE_SCALE));
    tx = (width() - layout.width * k) / 2;
    if (layout.width * k > width()) {
      // centre on the first rank's nodes
      let sx = 0;
      let n = 0;
      for (const p of layout.nodes.values()) {
        if (p.rank === 0) {
          sx += p.x;
          n++;
        }
      }
      tx = width() / 2 - (n ? sx / n : layout.width / 2) * k;
    }
    ty = 4;
    apply();
  };
  const zoomAt = (factor: number, cx: number, cy: number): void => {
    const nk = Math.min(MAX_SCALE, Math.max(MIN_SCALE, k * factor));
    tx = cx - ((cx - tx) * nk) / k;
    ty = cy - ((cy - ty) * nk) / k;
    k = nk;
    touched = true;
    apply();
  };
  const fit = (): void => {
    k = Math.max(MIN_SCALE, fitScale());
    tx = (width() - layout.width * k) / 2;
    ty = (height() - layout.height * k) / 2;
    apply();
  };
  initialView();

  const observer =
    typeof ResizeObserver !== "undefined"
      ? new ResizeObserver((entries) => {
          const box = entries[entries.length - 1]?.contentRect;
          if (box && box.width > 0) {
            vw = box.width;
            vh = box.height || vh;
          }
          if (!touched) initialView();
        })
      : null;
  if (svg && observer) observer.observe(svg);

  // --- selection ---------------------------------------------------------------------------------
  let selected: string | null = null;
  const select = (step: string | null): void => {
    if (selected) {
      nodeEls.get(selected)?.classList.remove("kfp-selected");
      root.querySelectorAll(".kfp-edge-hl").forEach((e) => e.classList.remove("kfp-edge-hl"));
    }
    selected = step && nodeEls.has(step) ? step : null;
    if (!selected) return;
    nodeEls.get(selected)?.classList.add("kfp-selected");
    const q = CSS.escape(selected);
    root
      .querySelectorAll(`[data-kfp-source="${q}"], [data-kfp-target="${q}"]`)
      .forEach((e) => e.classList.add("kfp-edge-hl"));
  };
  const focus = (step: string): void => {
    const p = layout.nodes.get(step);
    if (!p) return;
    if (k < READABLE_SCALE) k = 1;
    tx = width() / 2 - p.x * k;
    ty = height() / 2 - p.y * k;
    touched = true;
    apply();
    select(step);
  };

  // --- pointer, wheel and keys ---------------------------------------------------------------------
  let drag: { x: number; y: number; tx: number; ty: number; moved: boolean; node: string | null; id: number } | null =
    null;
  const onDown = (ev: PointerEvent): void => {
    if (ev.button !== 0) return;
    const node = (ev.target as Element).closest?.(".kfp-node");
    drag = {
      x: ev.clientX,
      y: ev.clientY,
      tx,
      ty,
      moved: false,
      node: node ? node.getAttribute("data-kfp-step") : null,
      id: ev.pointerId,
    };
  };
  const onMove = (ev: PointerEvent): void => {
    if (!drag || ev.pointerId !== drag.id) return;
    const dx = ev.clientX - drag.x;
    const dy = ev.clientY - drag.y;
    if (!drag.moved && Math.abs(dx) + Math.abs(dy) < 4) return;
    if (!drag.moved) {
      drag.moved = true;
      svg?.setPointerCapture?.(ev.pointerId);
      svg?.classList.add("kfp-panning");
    }
    tx = drag.tx + dx;
    ty = drag.ty + dy;
    touched = true;
    apply();
  };
  const onUp = (ev: PointerEvent): void => {
    if (!drag || ev.pointerId !== drag.id) return;
    const d = drag;
    drag = null;
    svg?.classList.remove("kfp-panning");
    if (d.moved) return;
    select(d.node);
    options.onSelect?.(d.node && selected ? d.node : null);
  };
  const onWheel = (ev: WheelEvent): void => {
    // a plain wheel scrolls the notebook as usual; Ctrl/⌘ (and a trackpad pinch) zooms
    if (!ev.ctrlKey && !ev.metaKey) return;
    ev.preventDefault();
    const r = (svg as SVGSVGElement).getBoundingClientRect();
    zoomAt(Math.exp(-ev.deltaY * 0.0025), ev.clientX - r.left, ev.clientY - r.top);
  };
  const onKey = (ev: KeyboardEvent): void => {
    if ((ev.target as Element).tagName === "INPUT") return;
    const c = { x: width() / 2, y: height() / 2 };
    const pan = (x: number, y: number): void => {
      tx += x;
      ty += y;
      touched = true;
      apply();
    };
    switch (ev.key) {
      case "+":
      case "=":
        zoomAt(1.25, c.x, c.y);
        break;
      case "-":
        zoomAt(0.8, c.x, c.y);
        break;
      case "0":
        fit();
        break;
      case "1":
        zoomAt(1 / k, c.x, c.y);
        break;
      case "ArrowLeft":
        pan(60, 0);
        break;
      case "ArrowRight":
        pan(-60, 0);
        break;
      case "ArrowUp":
        pan(0, 60);
        break;
      case "ArrowDown":
        pan(0, -60);
        break;
      case "Escape":
        select(null);
        options.onSelect?.(null);
        break;
      default:
        return;
    }
    ev.preventDefault();
  };
  const onTool = (ev: Event): void => {
    const b = (ev.target as Element).closest?.("[data-kfp-zoom]");
    if (!b) return;
    const c = { x: width() / 2, y: height() / 2 };
    const what = b.getAttribute("data-kfp-zoom");
    if (what === "in") zoomAt(1.25, c.x, c.y);
    else if (what === "out") zoomAt(0.8, c.x, c.y);
    else if (what === "fit") {
      touched = true;
      fit();
    } else if (what === "one") zoomAt(1 / k, c.x, c.y);
  };
  const find = root.querySelector(".kfp-dag-find") as HTMLInputElement | null;
  const onFind = (): void => {
    if (!find) return;
    const q = find.value.trim();
    if (!q) return;
    const name = stepByName.has(q) ? q : steps.find((s) => s.name.includes(q))?.name;
    if (name) {
      focus(name);
      options.onSelect?.(name);
    }
  };
  const onFindKey = (ev: KeyboardEvent): void => {
    if (ev.key === "Enter") onFind();
  };
  svg?.addEventListener("pointerdown", onDown);
  svg?.addEventListener("pointermove", onMove);
  svg?.addEventListener("pointerup", onUp);
  svg?.addEventListener("pointercancel", onUp);
  svg?.addEventListener("wheel", onWheel, { passive: false });
  root.addEventListener("keydown", onKey);
  root.querySelector(".kfp-dag-tools")?.addEventListener("click", onTool);
  find?.addEventListener("change", onFind);
  find?.addEventListener("keydown", onFindKey);

  // --- states ----------------------------------------------------------------------------------------
  let states: StateMap = {};
  // step -> what it shows now; the markup above shows NONE with no text
  const shown = new Map<string, string>([...nodeEls.keys()].map((n) => [n, "NONE||"]));
  const draw = (name: string): boolean => {
    const g = nodeEls.get(name);
    if (!g) return false;
    const t = states[name];
    const state = t?.state || "NONE";
    const text = stateText(t, now());
    const key = `${state}|${text}|${t?.message ?? ""}`;
    if (shown.get(name) === key) return state === "RUNNING";
    shown.set(name, key);
    if (g.getAttribute("data-kfp-state") !== state) g.setAttribute("data-kfp-state", state);
    (stateEls.get(name) as SVGTextElement).textContent = text;
    const s = stepByName.get(name);
    if (s) (titleEls.get(name) as SVGTitleElement).textContent = nodeTitle(s, t);
    return state === "RUNNING";
  };
  let timer: ReturnType<typeof setInterval> | null = null;
  const tick = (): void => {
    let running = false;
    for (const [name, t] of Object.entries(states)) {
      if (t?.state === "RUNNING") running = draw(name) || running;
    }
    if (!running && timer !== null) {
      clearInterval(timer);
      timer = null;
    }
  };
  const update = (next: StateMap): void => {
    states = next ?? {};
    let running = false;
    for (const name of nodeEls.keys()) running = draw(name) || running;
    if (running && timer === null) timer = setInterval(tick, 1000);
  };
  update(options.states ?? {});

  return {
    element: root,
    layout,
    update,
    select,
    focus,
    fit: () => {
      touched = true;
      fit();
    },
    zoomBy: (f: number) => zoomAt(f, width() / 2, height() / 2),
    scale: () => k,
    refit: () => {
      const w = svg?.clientWidth ?? 0;
      if (w > 0) vw = w;
      if (!options.fitWidth) vh = svg?.clientHeight || vh;
      if (!touched) initialView();
    },
    setProblems: (names: string[]) => {
      const bad = new Set(names);
      for (const [name, g] of nodeEls) {
        if (bad.has(name)) g.setAttribute("data-kfp-problem", "true");
        else g.removeAttribute("data-kfp-problem");
      }
    },
    destroy: () => {
      if (timer !== null) clearInterval(timer);
      observer?.disconnect();
      root.remove();
    },
  };
}
