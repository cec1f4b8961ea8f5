/**
 * The sidebar panel: the active notebook's pipeline (steps, what flows, parameters, metrics,
 * problems, each linked to its cell), the active cell's step editor, and the current run with
 * its DAG, drawn by the same code as the notebook widget (kfp-jupyter-dag, from js/).
 */

import type { Cell } from "@jupyterlab/cells";
import type { NotebookPanel } from "@jupyterlab/notebook";
import type { Message } from "@lumino/messaging";
import { Widget } from "@lumino/widgets";
import { type DagView, renderDag } from "kfp-jupyter-dag";

import { ApiError, api } from "./api";
import {
  type InspectJson,
  type Problem,
  type RunSummary,
  cellIndex,
  cycleEdges,
  dependents,
  isFinal,
  parameterRows,
  progress,
  runStates,
  stepRows,
  where,
} from "./summary";
import {
  type CellSettings,
  ROLES,
  ROLE_LABELS,
  parseCell,
  roleLabel,
  splitList,
  stepNameProblem,
  writeCell,
} from "./tags";
import { saveInTurn } from "./save";
import { writeCellTags } from "./undo";

function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string> = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  for (const c of children) el.append(c);
  return el;
}

export function cellTags(cell: Cell): string[] {
  const tags = cell.model.getMetadata("tags");
  return Array.isArray(tags) ? tags.map(String) : [];
}

/** The cell's settings, from its magic line or its tags. */
export function cellSettings(cell: Cell): CellSettings {
  return parseCell(cell.model.sharedModel.getSource(), cellTags(cell));
}

/**
 * Show the cell's role on the cell: a coloured badge (CSS on data-kfp-role), in the flow above
 * the cell's input so that it never covers the cell's toolbar (absolutely placed, top right).
 */
export function markCell(cell: Cell): void {
  const label = cell.model.type === "code" ? roleLabel(cellSettings(cell)) : "";
  let badge = cell.node.querySelector<HTMLElement>(":scope > .kfpj-badge");
  if (!label) {
    delete cell.node.dataset.kfpRole;
    delete cell.node.dataset.kfpLabel;
    badge?.remove();
    return;
  }
  cell.node.dataset.kfpRole = cellSettings(cell).role;
  cell.node.dataset.kfpLabel = label;
  if (!badge) {
    badge = h("div", { class: "kfpj-badge" });
    cell.node.prepend(badge);
  }
  badge.textContent = label;
}

export class PipelinePanel extends Widget {
  private notebook: NotebookPanel | null = null;
  private pipeline: InspectJson | null = null;
  private problems: Problem[] = [];
  private error = "";
  private run: RunSummary | null = null;
  private runInfo = "";
  private runLink: string | null = null;
  private dag: DagView | null = null;
  private poll: number | null = null;
  private refreshing = 0;
  private dagFor: InspectJson | null = null;
  private stale = true;
  /** what the user changed in the editor and has not applied yet, kept over re-renders */
  private draft: { cell: Cell; from: string; settings: CellSettings } | null = null;
  private readonly body = h("div", { class: "kfpj-body" });
  private readonly titleBox = h("h2", {});
  private readonly editorBox = h("div", {});
  private readonly statusBox = h("div", {});
  private readonly problemsBox = h("div", {});
  private readonly dagBox = h("div", { class: "kfpj-dag" });
  private readonly listBox = h("div", {});

  constructor() {
    super();
    this.id = "kfp-jupyter-panel";
    this.title.caption = "Pipeline (kfp-jupyter)";
    this.title.label = "Pipeline";
    this.addClass("kfpj-panel");
    this.node.append(this.body);
    this.body.append(
      this.titleBox,
      this.editorBox,
      this.statusBox,
      this.problemsBox,
      this.dagBox,
      this.listBox,
    );
    this.render();
  }

  setNotebook(panel: NotebookPanel | null): void {
    if (panel === this.notebook) return;
    this.notebook = panel;
    this.pipeline = null;
    this.problems = [];
    this.error = "";
    this.run = null;
    this.runInfo = "";
    this.runLink = null;
    this.stale = true;
    this.render();
    this.refreshIfVisible();
  }

  /** Ask the server only while the panel is shown (and once it is shown again). */
  refreshIfVisible(): void {
    this.stale = true;
    if (this.isVisible) void this.refresh();
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    if (this.stale) void this.refresh();
  }

  /** The pipeline's parameters with their defaults (for the Submit dialog). */
  get parameters(): Record<string, unknown> {
    return this.pipeline?.parameters ?? {};
  }

  get path(): string | null {
    return this.notebook?.context.path ?? null;
  }

  /** Ask the server for the pipeline again (after a save or an edit). */
  async refresh(): Promise<void> {
    this.stale = false;
    const path = this.path;
    const ticket = ++this.refreshing;
    if (!path) {
      this.render();
      return;
    }
    try {
      const p = await api<InspectJson>(`inspect?path=${encodeURIComponent(path)}`);
      if (ticket !== this.refreshing) return;
      this.pipeline = p;
      this.problems = [];
      this.error = "";
    } catch (e) {
      if (ticket !== this.refreshing) return;
      this.pipeline = null;
      this.problems = e instanceof ApiError ? ((e.body.problems ?? []) as Problem[]) : [];
      this.error = e instanceof Error ? e.message : String(e);
    }
    this.render();
  }

  /** Show a run's progress, polling `GET runs/{id}` until it ends. */
  followRun(runId: string): void {
    this.runInfo = `run ${runId} started`;
    this.runLink = null;
    if (this.poll !== null) window.clearInterval(this.poll);
    const tick = async (): Promise<void> => {
      try {
        const run = await api<RunSummary>(`runs/${encodeURIComponent(runId)}`);
        this.run = run;
        this.runInfo = `run ${run.id}: ${progress(run)}`;
        if (isFinal(run.state) && this.poll !== null) {
          window.clearInterval(this.poll);
          this.poll = null;
        }
      } catch (e) {
        this.runInfo = `run ${runId}: ${e instanceof Error ? e.message : e}`;
      }
      this.renderStatus();
      this.renderPipeline();
    };
    this.poll = window.setInterval(() => void tick(), 1000);
    void tick();
  }

  showSubmitted(info: { run_id: string; url: string | null; engine: string; name: string }): void {
    if (this.poll !== null) window.clearInterval(this.poll);
    this.poll = null;
    this.run = null;
    this.runInfo = `submitted to ${info.engine}: ${info.name} (${info.run_id})`;
    this.runLink = info.url;
    this.renderStatus();
    this.renderPipeline();
  }

  showMessage(text: string): void {
    this.runInfo = text;
    this.renderStatus();
  }

  private jump(cell: number | null): void {
    const nb = this.notebook?.content;
    if (!nb || cell == null) return;
    const index = cellIndex(cell);
    if (index < 0 || index >= nb.widgets.length) return;
    nb.activeCellIndex = index;
    void nb.scrollToItem(index);
  }

  private link(text: string, cell: number | null): HTMLElement {
    const a = h("a", { class: "kfpj-link", href: "#", "data-cell": String(cell ?? "") }, text);
    a.onclick = (ev) => {
      ev.preventDefault();
      this.jump(cell);
    };
    return a;
  }

  /** Everything; the editor alone follows the active cell, the run only the status and states. */
  render(): void {
    this.titleBox.textContent = this.notebook
      ? (this.pipeline?.name ?? this.notebook.context.path)
      : "";
    this.renderEditor();
    this.renderStatus();
    this.renderProblems();
    this.renderPipeline();
  }

  /** Rebuild the editor; unless `force`, not while the user is typing in it (a save re-renders). */
  renderEditor(force = false): void {
    if (force) this.draft = null;
    else if (this.editorBox.contains(document.activeElement)) return;
    this.editorBox.replaceChildren(
      this.notebook
        ? this.editor()
        : h("p", { class: "kfpj-empty" }, "Open a notebook to see its pipeline."),
    );
  }

  private renderStatus(): void {
    this.statusBox.replaceChildren();
    if (!this.runInfo || !this.notebook) return;
    const status = h("div", { class: "kfpj-run", "data-kfp-run-state": this.run?.state ?? "" });
    status.append(h("span", {}, this.runInfo));
    if (this.runLink) {
      status.append(
        " ",
        h("a", { href: this.runLink, target: "_blank", rel: "noopener" }, "open in the KFP UI"),
      );
    }
    const metrics = Object.entries(this.run?.metrics ?? {});
    if (metrics.length) {
      const text = metrics.map(([k, v]) => `${k} = ${Number(v).toPrecision(4)}`).join(", ");
      status.append(h("div", { class: "kfpj-metrics" }, text));
    }
    this.statusBox.append(status);
  }

  private renderProblems(): void {
    this.problemsBox.replaceChildren();
    if (!this.notebook || (!this.problems.length && !this.error)) return;
    const box = h("section", { class: "kfpj-problems" }, h("h3", {}, "Problems"));
    if (!this.problems.length) box.append(h("p", {}, this.error));
    for (const p of this.problems) {
      const item = h("div", { class: "kfpj-problem" });
      item.append(this.link(where(p) || "notebook", p.cell), ": ", p.message);
      if (p.fix) item.append(h("div", { class: "kfpj-fix" }, `fix: ${p.fix}`));
      box.append(item);
    }
    this.problemsBox.append(box);
  }

  private renderPipeline(): void {
    const p = this.notebook ? this.pipeline : null;
    const states = this.run ? runStates(this.run) : {};
    if (this.dag && this.dagFor === p) {
      this.dag.update(states); // keeps the user's pan and zoom
    } else {
      this.dag?.destroy();
      this.dag = null;
      this.dagFor = p;
      this.dagBox.replaceChildren();
      if (p && p.steps.length) {
        this.dag = renderDag(this.dagBox, p, {
          states,
          maxHeight: 320,
          onSelect: (step) => {
            const row = stepRows(p).find((r) => r.name === step);
            if (row) this.jump(row.cell);
          },
        });
      }
    }
    this.listBox.replaceChildren();
    if (!p) return;
    const steps = h("section", { class: "kfpj-steps" }, h("h3", {}, `Steps (${p.steps.length})`));
    for (const r of stepRows(p)) {
      const item = h("div", {
        class: "kfpj-step",
        "data-kfp-step": r.name,
        "data-kfp-state": states[r.name]?.state ?? "NONE",
      });
      item.append(this.link(r.name, r.cell));
      if (states[r.name]) item.append(h("span", { class: "kfpj-state" }, states[r.name].state));
      if (r.after.length) {
        item.append(h("div", { class: "kfpj-after" }, `after ${r.after.join(", ")}`));
      }
      for (const x of r.receives) {
        item.append(h("div", { class: "kfpj-var" }, `${x.variable} ← ${x.from}`));
      }
      steps.append(item);
    }
    this.listBox.append(steps);
    const params = parameterRows(p);
    if (params.length) {
      const box = h("section", { class: "kfpj-params" }, h("h3", {}, "Parameters"));
      for (const x of params) box.append(h("div", {}, `${x.name}: ${x.type} = ${x.value}`));
      this.listBox.append(box);
    }
    if (p.metrics?.length) {
      this.listBox.append(
        h("section", { class: "kfpj-metrics-list" }, h("h3", {}, "Metrics"), p.metrics.join(", ")),
      );
    }
  }

  /**
   * The active cell's step editor; Apply writes the cell's magic line (a `%%step` cell) or its
   * tags (any other cell) as one step of the notebook's undo, then saves.
   */
  private editor(): HTMLElement {
    const box = h("section", { class: "kfpj-editor" }, h("h3", {}, "Active cell"));
    if (!this.notebook) return box;
    const cell = this.notebook?.content.activeCell;
    if (!cell || cell.model.type !== "code") {
      box.append(h("p", { class: "kfpj-empty" }, "Select a code cell to set its role."));
      return box;
    }
    // the cell's settings, or the user's unapplied changes if the cell did not change since
    const from = JSON.stringify(cellSettings(cell));
    const draft = this.draft?.cell === cell && this.draft.from === from ? this.draft : null;
    const s: CellSettings = draft ? draft.settings : JSON.parse(from);
    const role = h("select", { "data-kfp-field": "role" });
    for (const r of ROLES) {
      const o = h("option", { value: r }, ROLE_LABELS[r]);
      if (r === s.role) o.selected = true;
      role.append(o);
    }
    box.append(h("label", {}, "Role ", role));
    const stepFields = h("div", { class: "kfpj-step-fields" });
    const input = (field: keyof CellSettings, label: string, value: string, hint = ""): HTMLInputElement => {
      const el = h("input", { "data-kfp-field": field, value, placeholder: hint });
      stepFields.append(h("label", {}, `${label} `, el));
      return el;
    };
    const name = input("name", "Name", s.name, "e.g. train");
    // only steps that cannot close a cycle: none that already runs after this one
    const steps = this.pipeline ? stepRows(this.pipeline) : [];
    const later = dependents(steps, s.name);
    const others = steps.map((x) => x.name).filter((n) => n !== s.name && !later.has(n));
    const after = h("select", { "data-kfp-field": "after", multiple: "" });
    for (const n of new Set([...others, ...s.after])) {
      const o = h("option", { value: n }, n);
      if (s.after.includes(n)) o.selected = true;
      after.append(o);
    }
    stepFields.append(h("label", {}, "After ", after));
    const image = input("image", "Image", s.image, "python:3.11");
    const packages = input("packages", "Packages", s.packages.join(", "), "numpy, pandas");
    const cpu = input("cpu", "CPU", s.cpu, "2");
    const memory = input("memory", "Memory", s.memory, "4Gi");
    const gpu = input("gpu", "GPU", s.gpu, "1");
    const retries = input("retries", "Retries", s.retries, "0");
    const timeout = input("timeout", "Timeout (s)", s.timeout, "");
    const cache = h("select", { "data-kfp-field": "cache" });
    for (const [v, t] of [
      ["", "default"],
      ["enabled", "enabled"],
      ["disabled", "disabled"],
    ]) {
      const o = h("option", { value: v }, t);
      if (v === s.cache) o.selected = true;
      cache.append(o);
    }
    stepFields.append(h("label", {}, "Cache ", cache));
    box.append(stepFields);
    const hint = h("div", { class: "kfpj-hint" });
    box.append(hint);
    const showFields = (): void => {
      stepFields.style.display = role.value === "step" ? "" : "none";
    };
    role.onchange = showFields;
    showFields();
    const apply = h("button", { class: "jp-mod-styled jp-mod-accept", "data-kfp-action": "apply" }, "Apply");
    const read = (): CellSettings => ({
      role: role.value as CellSettings["role"],
      name: name.value.trim(),
      after: Array.from(after.selectedOptions).map((o) => o.value),
      image: image.value,
      packages: splitList(packages.value),
      cpu: cpu.value,
      memory: memory.value,
      gpu: gpu.value,
      retries: retries.value,
      timeout: timeout.value,
      cache: cache.value as CellSettings["cache"],
    });
    const keepDraft = (): void => {
      this.draft = { cell, from, settings: read() };
    };
    box.addEventListener("input", keepDraft);
    box.addEventListener("change", keepDraft);
    apply.onclick = () => {
      const next = read();
      let problem = next.role === "step" ? stepNameProblem(next.name) : null;
      const cycle = next.role === "step" ? cycleEdges(steps, next.name, next.after) : [];
      if (!problem && cycle.length) problem = `this would close a cycle: ${cycle.join(", ")}`;
      if (problem) {
        hint.textContent = problem;
        return;
      }
      hint.textContent = "";
      const notebook = this.notebook?.content.model?.sharedModel;
      if (!notebook) return;
      const written = writeCell(cell.model.sharedModel.getSource(), cellTags(cell), next);
      writeCellTags(notebook, cell.model.sharedModel, written.tags, written.source);
      this.draft = null;
      markCell(cell);
      apply.blur();
      const context = this.notebook?.context;
      if (context) void saveInTurn(context).then(() => this.refresh());
    };
    box.append(apply);
    return box;
  }
}
