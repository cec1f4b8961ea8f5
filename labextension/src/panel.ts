/**
 * The sidebar panel: the active notebook's pipeline (steps, what flows, parameters, metrics,
 * problems, each linked to its cell), the active cell's step editor, and the current run with
 * its DAG, drawn by the same code as the notebook widget (kfp-jupyter-dag, from js/).
 */

import type { NotebookPanel } from "@jupyterlab/notebook";
import type { Message } from "@lumino/messaging";
import { Widget } from "@lumino/widgets";
import {
  type DagView,
  type StepDetails,
  renderDag,
  renderDetails as renderSharedDetails,
} from "kfp-jupyter-dag";

import { ApiError, api } from "./api";
import { cellSettings, clearFailedCells, markFailedCell } from "./cells";
import { h } from "./dom";
import { type Draft, type EditorHost, stepEditor } from "./editor";
import { pipelineIcon } from "./icon";
import { loadInputs } from "./inputs";
import { pipelineSettingsEditor } from "./metadata";
import type { ParamsJson } from "./runoptions";
import { type ErrorFrame, type RunListing, failedCell, problemSteps, runToFollow } from "./runs";
import { saveInTurn } from "./save";
import {
  type RunView,
  type ShownRun,
  outlineNote,
  pipelineLists,
  problemsSection,
  recentSection,
  statusSection,
} from "./sections";
import { type InspectJson, type Problem, cellIndex, isFinal, runStates } from "./summary";

/** How often the panel asks the server while it is visible: the followed run, then the list. */
const TICK_MS = 1000;
const RUNS_EVERY = 2;
const RECENT_RUNS = 5;
/** A change to a cell's role is saved (and the view refreshed) once the user paused this long. */
const SETTLE_MS = 1200;

export class PipelinePanel extends Widget {
  private notebook: NotebookPanel | null = null;
  /** the notebook's pipeline as it last could be read: kept while the notebook has problems */
  private pipeline: InspectJson | null = null;
  private problems: Problem[] = [];
  private error = "";
  /** the run shown (followed while it goes on), and what it is called in the status line */
  private run: RunView | null = null;
  private runId: string | null = null;
  private runTitle = "";
  private runLink: string | null = null;
  private message = "";
  private recent: RunListing[] = [];
  private known = new Set<string>();
  private listed = false;
  private selected: string | null = null;
  private details: StepDetails | null = null;
  /** what the shown details were fetched for: step, run and the step's state then */
  private detailsKey = "";
  private marked = "";
  private dag: DagView | null = null;
  private timer: number | null = null;
  private ticks = 0;
  private ticking = false;
  private refreshing = 0;
  private dagFor: InspectJson | null = null;
  private stale = true;
  private settings = "";
  private settle: number | null = null;
  private settingsOpen = false;
  /** what the user changed in the editor and has not applied yet, kept over re-renders */
  private draft: Draft | null = null;
  private readonly editorHost: EditorHost = {
    notebook: () => this.notebook,
    pipeline: () => this.pipeline,
    draft: () => this.draft,
    keepDraft: (draft) => {
      this.draft = draft;
    },
    refresh: () => this.refresh(),
  };
  private readonly body = h("div", { class: "kfpj-body" });
  private readonly titleBox = h("h2", {});
  private readonly editorBox = h("div", {});
  private readonly statusBox = h("div", {});
  private readonly recentBox = h("div", {});
  private readonly problemsBox = h("div", {});
  private readonly noteBox = h("div", {});
  private readonly dagBox = h("div", { class: "kfpj-dag" });
  private readonly detailsBox = h("div", {});
  private readonly listBox = h("div", {});

  constructor() {
    super();
    this.id = "kfp-jupyter-panel";
    this.title.caption = "Pipeline (kfp-jupyter)";
    this.title.label = "Pipeline";
    this.title.icon = pipelineIcon;
    this.addClass("kfpj-panel");
    this.node.append(this.body);
    this.body.append(
      this.titleBox,
      this.editorBox,
      this.statusBox,
      this.recentBox,
      this.problemsBox,
      this.noteBox,
      this.dagBox,
      this.detailsBox,
      this.listBox,
    );
    this.render();
  }

  setNotebook(panel: NotebookPanel | null): void {
    if (panel === this.notebook) return;
    this.notebook?.model?.contentChanged.disconnect(this.onContent, this);
    this.notebook = panel;
    this.pipeline = null;
    this.problems = [];
    this.error = "";
    this.clearRun();
    this.recent = [];
    this.known = new Set();
    this.listed = false;
    this.stale = true;
    // the cells' settings as the notebook opened: only a change from these is saved (a key
    // taken before the cells are read would make the opening itself a change, and its save
    // would race the user's own Ctrl+S: JupyterLab then asks "overwrite or revert?")
    this.settings = "";
    void panel?.context.ready.then(() => {
      if (this.notebook === panel) this.settings = this.settingsKey();
    });
    panel?.model?.contentChanged.connect(this.onContent, this);
    this.render();
    this.refreshIfVisible();
  }

  private clearRun(): void {
    this.run = null;
    this.runId = null;
    this.runTitle = "";
    this.runLink = null;
    this.message = "";
    this.selected = null;
    this.details = null;
    this.detailsKey = "";
    this.marked = "";
  }

  /** Ask the server only while the panel is shown (and once it is shown again). */
  refreshIfVisible(): void {
    this.stale = true;
    if (this.isVisible) void this.refresh();
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    if (this.stale) void this.refresh();
    this.startTicking();
  }

  protected onAfterAttach(msg: Message): void {
    super.onAfterAttach(msg);
    if (this.isVisible) this.startTicking(); // a sidebar restored open is shown without a show
  }

  protected onBeforeDetach(msg: Message): void {
    this.stopTicking();
    super.onBeforeDetach(msg);
  }

  protected onBeforeHide(msg: Message): void {
    super.onBeforeHide(msg);
    this.stopTicking();
  }

  protected onResize(msg: Widget.ResizeMessage): void {
    super.onResize(msg);
    this.dag?.refit();
  }

  dispose(): void {
    this.stopTicking();
    super.dispose();
  }

  private startTicking(): void {
    if (this.timer === null) this.timer = window.setInterval(() => void this.tick(), TICK_MS);
    void this.tick();
  }

  private stopTicking(): void {
    if (this.timer !== null) window.clearInterval(this.timer);
    this.timer = null;
  }

  /** One look at the server: the followed run (while it goes on), every RUNS_EVERY the list. */
  private async tick(): Promise<void> {
    if (this.ticking || !this.isVisible || !this.path) return;
    this.ticking = true;
    try {
      if (this.ticks++ % RUNS_EVERY === 0) await this.pollRuns();
      if (this.runId && !this.runEnded()) await this.pollRun();
    } finally {
      this.ticking = false;
    }
  }

  private runEnded(): boolean {
    return Boolean(this.run && (isFinal(this.run.state) || this.run.done));
  }

  private async pollRuns(): Promise<void> {
    const path = this.path;
    if (!path) return;
    let runs: RunListing[];
    try {
      runs = await api<RunListing[]>(`runs?path=${encodeURIComponent(path)}&limit=${RECENT_RUNS}`);
    } catch {
      return; // the list is a convenience: the next tick asks again
    }
    if (path !== this.path) return;
    const next = runToFollow(runs, this.known, !this.listed && !this.runId);
    this.listed = true;
    for (const r of runs) this.known.add(r.id);
    this.recent = runs;
    if (next && next !== this.runId) this.showRun(next, `run ${next}`);
    else this.renderRecent();
  }

  private async pollRun(): Promise<void> {
    const id = this.runId;
    if (!id) return;
    try {
      const run = await api<RunView>(`runs/${encodeURIComponent(id)}`);
      if (id !== this.runId) return;
      this.run = run;
      if (run.url) this.runLink = run.url;
    } catch (e) {
      if (id !== this.runId) return;
      this.message = `run ${id}: ${e instanceof Error ? e.message : e}`;
    }
    this.renderStatus();
    this.renderRecent();
    this.renderPipeline();
    if (this.runEnded()) void this.markFailures();
    void this.refreshDetails();
  }

  /** The parameters with their defaults and declared types (for the Submit dialog), also of an
   * outline. */
  get parameters(): ParamsJson {
    const p = this.pipeline;
    return { parameters: p?.parameters ?? {}, parameter_types: p?.parameter_types ?? {} };
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
      // the last good pipeline stays on screen, its problem steps marked
      this.problems = e instanceof ApiError ? ((e.body.problems ?? []) as Problem[]) : [];
      this.error = e instanceof Error ? e.message : String(e);
    }
    this.render();
    void this.refreshDetails(true);
  }

  /** Show a run and follow it until it ends (the Run button, a click in the recent runs). */
  followRun(runId: string): void {
    this.showRun(runId, `run ${runId}`);
  }

  private showRun(runId: string, title: string, link: string | null = null): void {
    const keep = this.selected;
    this.clearRun();
    this.selected = keep;
    this.runId = runId;
    this.runTitle = title;
    this.runLink = link;
    this.known.add(runId);
    clearFailedCells(this.notebook?.content.widgets ?? []); // the next run clears the marks
    this.renderStatus();
    this.renderRecent();
    this.renderPipeline();
    this.startTicking();
    void this.pollRun();
  }

  showSubmitted(info: { run_id: string; url: string | null; engine: string; name: string }): void {
    this.showRun(info.run_id, `submitted to ${info.engine}: ${info.name} (${info.run_id})`, info.url);
  }

  showMessage(text: string): void {
    this.message = text;
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

  /** Open the details of `step` (null closes them), as clicking it in the DAG does. */
  selectStep(step: string | null): void {
    this.selected = step;
    this.dag?.select(step);
    if (!step) {
      this.details = null;
      this.detailsKey = "";
      this.renderDetails();
      return;
    }
    if (this.isVisible) this.node.scrollTop = 0;
    void this.refreshDetails(true);
  }

  /** Fetch the selected step's details again if its state changed (or `force`). */
  private async refreshDetails(force = false): Promise<void> {
    const step = this.selected;
    const path = this.path;
    if (!step || !path) return;
    const state = this.run ? (runStates(this.run)[step]?.state ?? "") : "";
    const key = `${step}|${this.runId ?? ""}|${state}`;
    if (!force && key === this.detailsKey) return;
    this.detailsKey = key;
    const where = this.runId
      ? `runs/${encodeURIComponent(this.runId)}/steps/${encodeURIComponent(step)}`
      : `steps/${encodeURIComponent(step)}`;
    try {
      const d = await api<StepDetails>(`${where}?path=${encodeURIComponent(path)}`);
      if (step !== this.selected || key !== this.detailsKey) return;
      this.details = d;
    } catch (e) {
      if (step !== this.selected) return;
      this.details = { step, note: e instanceof Error ? e.message : String(e) };
    }
    this.renderDetails();
  }

  /** Mark the cell each failed step of the shown run failed in (once per run). */
  private async markFailures(): Promise<void> {
    const run = this.run;
    const path = this.path;
    const nb = this.notebook;
    if (!run || !path || !nb || this.marked === run.id) return;
    this.marked = run.id;
    const failed = (run.tasks ?? []).filter((t) => t.state === "FAILED").map((t) => t.name);
    for (const step of failed) {
      let d: StepDetails & { cells?: number[]; error_frames?: ErrorFrame[] };
      try {
        d = await api(`runs/${encodeURIComponent(run.id)}/steps/${encodeURIComponent(step)}?path=${encodeURIComponent(path)}`);
      } catch {
        continue;
      }
      if (this.runId !== run.id || this.notebook !== nb) return;
      const cell = failedCell(d.cells ?? [], d.error_frames ?? []);
      const index = cell === null ? -1 : cellIndex(cell);
      const widget = nb.content.widgets[index];
      if (widget) markFailedCell(widget, step, () => this.openFromCell(step));
    }
  }

  /** Show the panel (set by the plugin: only the app's shell can), for a click on a cell's mark. */
  reveal: () => void = () => undefined;

  private openFromCell(step: string): void {
    this.reveal();
    this.selectStep(step);
    this.dag?.focus(step);
  }

  /** A cell's role changed (the editor, the tag editor, typing, undo): save, then refresh. */
  private onContent(): void {
    if (!this.notebook?.context.isReady) return; // still opening: nobody changed anything
    const key = this.settingsKey();
    if (key === this.settings) return; // typing in a cell's body changes no step
    this.settings = key;
    if (this.run === null || this.runEnded()) this.message = "";
    if (this.settle !== null) window.clearTimeout(this.settle);
    this.settle = window.setTimeout(() => {
      this.settle = null;
      const context = this.notebook?.context;
      if (!context) return;
      if (context.model.dirty) void saveInTurn(context).then(() => this.refreshIfVisible());
      else this.refreshIfVisible();
    }, SETTLE_MS);
  }

  private settingsKey(): string {
    const cells = this.notebook?.content.widgets ?? [];
    return JSON.stringify(cells.map((c) => (c.model.type === "code" ? cellSettings(c) : null)));
  }

  /** Everything; the editor alone follows the active cell, the run only the status and states. */
  render(): void {
    this.titleBox.textContent = this.notebook
      ? (this.pipeline?.name ?? this.notebook.context.path)
      : "";
    this.renderEditor();
    this.renderStatus();
    this.renderRecent();
    this.renderProblems();
    this.renderPipeline();
    this.renderDetails();
  }

  /** Rebuild the editor; unless `force`, not while the user is typing in it (a save re-renders). */
  renderEditor(force = false): void {
    if (force) this.draft = null;
    else if (this.editorBox.contains(document.activeElement)) return;
    this.editorBox.replaceChildren(
      this.notebook
        ? stepEditor(this.editorHost)
        : h("p", { class: "kfpj-empty" }, "Open a notebook to see its pipeline."),
    );
    if (this.notebook) this.editorBox.append(this.settingsBox(this.notebook));
  }

  /** The pipeline's name, description and experiment (notebook metadata), folded by default;
   * open or closed as the user left it, over re-renders. */
  private settingsBox(notebook: NotebookPanel): HTMLElement {
    const box = h("details", { class: "kfpj-settings" }, h("summary", {}, "Pipeline settings"));
    box.open = this.settingsOpen;
    box.addEventListener("toggle", () => {
      this.settingsOpen = box.open;
    });
    box.append(pipelineSettingsEditor(notebook));
    return box;
  }

  private get shown(): ShownRun {
    return { id: this.runId, run: this.run, title: this.runTitle, link: this.runLink, message: this.message };
  }

  private renderStatus(): void {
    this.statusBox.replaceChildren();
    if (!this.notebook || (!this.runId && !this.message)) return;
    this.statusBox.append(statusSection(this.shown));
  }

  private renderRecent(): void {
    this.recentBox.replaceChildren();
    if (!this.notebook || !this.recent.length) return;
    this.recentBox.append(
      recentSection(this.recent, this.shown, (r) => {
        if (r.engine && r.engine !== "local") this.showRun(r.id, `${r.engine} run ${r.id}`, r.url ?? null);
        else this.followRun(r.id);
      }),
    );
  }

  private renderProblems(): void {
    this.problemsBox.replaceChildren();
    if (!this.notebook || (!this.problems.length && !this.error)) return;
    const link = (text: string, cell: number | null): HTMLElement => this.link(text, cell);
    this.problemsBox.append(problemsSection(this.problems, this.error, Boolean(this.pipeline), link));
  }

  private renderDetails(): void {
    const d = this.details;
    if (!this.notebook || !this.selected || !d || d.step !== this.selected) {
      this.detailsBox.replaceChildren();
      return;
    }
    const box = h("section", {
      class: "kfpj-details",
      "data-kfp-details": d.step ?? "",
      "data-kfp-step": d.step ?? "",
    });
    // what loading the step's inputs printed, under the details
    const say = (text: string): void => {
      let out = box.querySelector<HTMLElement>("[data-kfp-detail=loaded]");
      if (!out) {
        out = h("pre", { "data-kfp-detail": "loaded" });
        box.append(out);
      }
      out.textContent = text;
    };
    renderSharedDetails(box, d, () => this.selectStep(null), {
      loadInputs: (s) => void loadInputs(this.notebook?.sessionContext.session?.kernel, s, say),
    });
    const cells = (d as { cells?: number[] }).cells ?? [];
    if (cells.length) {
      const links = h("div", { class: "kfpj-details-cells" }, "cells: ");
      cells.forEach((c, i) => links.append(i ? ", " : "", this.link(String(c), c)));
      box.append(links);
    }
    this.detailsBox.replaceChildren(box);
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
          maxHeight: 480,
          fitWidth: true,
          onSelect: (step) => this.selectStep(step),
        });
        if (this.selected) this.dag.select(this.selected);
      }
    }
    this.dag?.setProblems(problemSteps(this.problems));
    const note = p ? outlineNote(p) : null;
    this.noteBox.replaceChildren(...(note ? [note] : []));
    this.listBox.replaceChildren();
    if (!p) return;
    this.listBox.append(
      ...pipelineLists(p, states, {
        link: (text, cell) => this.link(text, cell),
        open: (step) => {
          this.selectStep(step);
          this.dag?.select(step);
        },
      }),
    );
  }
}
