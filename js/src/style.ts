/**
 * The drawing's CSS, as text injected once per document: the module then works unchanged in the
 * anywidget, in the JupyterLab extension's panel and in a plain page, with no CSS loader.
 * Colours follow JupyterLab's theme variables where they exist (light and dark themes).
 */

export const DAG_CSS = `
.kfp-dag {
  --kfp-fg: var(--jp-ui-font-color1, #1f2328);
  --kfp-muted: var(--jp-ui-font-color2, #59636e);
  --kfp-bg: var(--jp-layout-color1, #ffffff);
  --kfp-bg2: var(--jp-layout-color2, #f3f4f6);
  --kfp-border: var(--jp-border-color1, #b8c0c8);
  --kfp-accent: var(--jp-brand-color1, #1976d2);
  --kfp-none: #8c959f;
  --kfp-pending: #8c959f;
  --kfp-running: #1976d2;
  --kfp-succeeded: #2e7d32;
  --kfp-cached: #00838f;
  --kfp-failed: #c62828;
  --kfp-skipped: #a0a7ae;
  --kfp-cancelled: #ef6c00;
  --kfp-interrupted: #8d6e63;
  position: relative;
  font-family: var(--jp-ui-font-family, system-ui, -apple-system, "Segoe UI", sans-serif);
  color: var(--kfp-fg);
  background: var(--kfp-bg);
  border: 1px solid var(--kfp-border);
  border-radius: 4px;
  overflow: hidden;
  outline: none;
  user-select: none;
}
.kfp-dag:focus-visible { box-shadow: 0 0 0 2px var(--kfp-accent); }
.kfp-dag svg.kfp-dag-svg { display: block; width: 100%; cursor: grab; touch-action: none; }
.kfp-dag svg.kfp-dag-svg.kfp-panning { cursor: grabbing; }
/* the tools and the hint sit in a bar of their own below the drawing, never over a node */
.kfp-dag-bar {
  display: flex; flex-wrap: wrap-reverse; justify-content: space-between; align-items: center;
  gap: 4px; padding: 3px 6px; border-top: 1px solid var(--kfp-border); background: var(--kfp-bg);
}
.kfp-dag-tools { display: flex; flex-wrap: wrap; gap: 4px; align-items: center; margin-left: auto;
  max-width: 100%; }
.kfp-dag-tools button, .kfp-dag-tools input {
  font: inherit; font-size: 12px; height: 24px; border: 1px solid var(--kfp-border);
  background: var(--kfp-bg); color: var(--kfp-fg); border-radius: 3px;
}
.kfp-dag-tools button { min-width: 26px; cursor: pointer; padding: 0 6px; }
.kfp-dag-tools button:hover { background: var(--kfp-bg2); }
.kfp-dag-tools input { width: 130px; min-width: 70px; flex: 0 1 130px; padding: 0 6px; }
.kfp-dag-hint { font-size: 11px; color: var(--kfp-muted); pointer-events: none; }
.kfp-dag-empty { padding: 24px; color: var(--kfp-muted); font-size: 13px; }

.kfp-edge path { fill: none; stroke: var(--kfp-border); stroke-width: 1.4; }
.kfp-edge.kfp-order-only path { stroke-dasharray: 4 3; }
.kfp-edge.kfp-edge-hl path { stroke: var(--kfp-accent); stroke-width: 2.2; }
.kfp-edge-label rect { fill: var(--kfp-bg); stroke: var(--kfp-border); stroke-width: 0.6; }
.kfp-edge-label text { font-size: 11px; fill: var(--kfp-muted); }
.kfp-edge-label.kfp-edge-hl rect { stroke: var(--kfp-accent); }
.kfp-edge-label.kfp-edge-hl text { fill: var(--kfp-fg); }
.kfp-arrow { fill: var(--kfp-border); }

.kfp-node { cursor: pointer; --kfp-state: var(--kfp-none); }
.kfp-node .kfp-node-box {
  fill: color-mix(in srgb, var(--kfp-state) 10%, var(--kfp-bg));
  stroke: var(--kfp-state); stroke-width: 1.3;
}
.kfp-node .kfp-node-stripe { fill: var(--kfp-state); }
.kfp-node text { fill: var(--kfp-fg); font-size: 11px; }
.kfp-node .kfp-node-name { font-size: 13px; font-weight: 600; }
.kfp-node .kfp-node-image { fill: var(--kfp-muted); }
.kfp-node .kfp-node-badges { fill: var(--kfp-muted); }
.kfp-node .kfp-badge-gpu { fill: #6a1b9a; font-weight: 600; }
.kfp-node .kfp-node-state { fill: var(--kfp-state); font-weight: 600; }
.kfp-node .kfp-node-kind { fill: var(--kfp-muted); font-size: 10px; font-style: italic; }
/* steps the notebook does not run as its own Python: square corners and a double left edge */
.kfp-node:not([data-kfp-kind="python"]) .kfp-node-stripe { width: 8px; fill: none;
  stroke: var(--kfp-state); stroke-width: 2; }
.kfp-node[data-kfp-problem] .kfp-node-box { stroke: var(--kfp-failed); stroke-width: 2.2;
  stroke-dasharray: 5 3; }
.kfp-node:hover .kfp-node-box { stroke-width: 2.2; }
.kfp-node.kfp-selected .kfp-node-box { stroke: var(--kfp-accent); stroke-width: 3; }
.kfp-node[data-kfp-state="PENDING"] { --kfp-state: var(--kfp-pending); }
.kfp-node[data-kfp-state="RUNNING"] { --kfp-state: var(--kfp-running); }
.kfp-node[data-kfp-state="RUNNING"] .kfp-node-box {
  stroke-dasharray: 6 3; animation: kfp-dash 0.9s linear infinite;
}
.kfp-node[data-kfp-state="SUCCEEDED"] { --kfp-state: var(--kfp-succeeded); }
.kfp-node[data-kfp-state="CACHED"] { --kfp-state: var(--kfp-cached); }
.kfp-node[data-kfp-state="FAILED"] { --kfp-state: var(--kfp-failed); }
.kfp-node[data-kfp-state="FAILED"] .kfp-node-box { stroke-width: 2.2; }
.kfp-node[data-kfp-state="SKIPPED"] { --kfp-state: var(--kfp-skipped); }
.kfp-node[data-kfp-state="SKIPPED"] .kfp-node-box { stroke-dasharray: 3 3; }
.kfp-node[data-kfp-state="SKIPPED"] .kfp-node-name { fill: var(--kfp-muted); }
.kfp-node[data-kfp-state="CANCELLED"] { --kfp-state: var(--kfp-cancelled); }
.kfp-node[data-kfp-state="INTERRUPTED"] { --kfp-state: var(--kfp-interrupted); }
@keyframes kfp-dash { to { stroke-dashoffset: -9; } }
@media (prefers-reduced-motion: reduce) {
  .kfp-node[data-kfp-state="RUNNING"] .kfp-node-box { animation: none; }
}

/* Level of detail: far out, only what can still be read is drawn (and drawing stays fast). */
.kfp-lod-mid .kfp-edge-label, .kfp-lod-mid .kfp-node-image, .kfp-lod-mid .kfp-node-badges {
  display: none;
}
.kfp-lod-mid .kfp-node-kind { display: none; }
.kfp-lod-low .kfp-edge-label, .kfp-lod-low .kfp-node text { display: none; }
`;

const STYLE_ID = "kfp-dag-style";

/** Add the drawing's CSS to the document (or shadow root) of `el`, once. */
export function ensureStyle(el: HTMLElement, id: string = STYLE_ID, css: string = DAG_CSS): void {
  const root = el.getRootNode() as Document | ShadowRoot;
  const host: Document | ShadowRoot =
    root instanceof ShadowRoot || root instanceof Document ? root : el.ownerDocument;
  if ((host as Document).getElementById?.(id) ?? host.querySelector?.(`#${id}`)) return;
  const style = el.ownerDocument.createElement("style");
  style.id = id;
  style.textContent = css;
  if (host instanceof ShadowRoot) host.appendChild(style);
  else (host.head ?? host.documentElement).appendChild(style);
}
