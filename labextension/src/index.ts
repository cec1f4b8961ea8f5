/**
 * kfp-jupyter in JupyterLab: the pipeline panel in the left sidebar, a role label on every code
 * cell, and "Run pipeline" / "Submit" in the notebook toolbar (both save the notebook first).
 */

import {
  ILabShell,
  type JupyterFrontEnd,
  type JupyterFrontEndPlugin,
} from "@jupyterlab/application";
import { Dialog, ToolbarButton, showErrorMessage } from "@jupyterlab/apputils";
import { type Cell } from "@jupyterlab/cells";
import { type DocumentRegistry } from "@jupyterlab/docregistry";
import { INotebookTracker, type INotebookModel, type NotebookPanel } from "@jupyterlab/notebook";
import { type IDisposable } from "@lumino/disposable";
import { Widget } from "@lumino/widgets";

import { ApiError, api, post } from "./api";
import {
  type MetadataNotebook,
  type PipelineSettings,
  applyPipelineSettings,
  defaultPipelineName,
  pipelineSettingsForm,
  readPipelineSettings,
} from "./metadata";
import { cellSettings, markCell } from "./cells";
import { PipelinePanel } from "./panel";
import {
  type Form,
  type ParamsJson,
  initialChoices,
  lastChoices,
  paramSpecs,
  runOptionsForm,
} from "./runoptions";
import { saveInTurn, watchSaves } from "./save";
import { type SavedTarget, submitForm } from "./submit";

const watched = new WeakSet<Cell>();

/**
 * Label every cell, and keep the label (and the sidebar's editor, for the active cell) in step
 * with the cell's tags and magic line however they change: the editor, the tag editor, typing,
 * undo and redo.
 */
function markAll(panel: NotebookPanel, sidebar: PipelinePanel): void {
  for (const cell of panel.content.widgets) {
    markCell(cell);
    if (watched.has(cell)) continue;
    watched.add(cell);
    // `cell` as the receiver: disposing the cell widget disconnects this
    let seen = JSON.stringify(cellSettings(cell));
    const changed = (): void => {
      const now = JSON.stringify(cellSettings(cell));
      if (now === seen) return; // typing in the cell's body changes nothing here
      seen = now;
      markCell(cell);
      if (panel.content.activeCell === cell) sidebar.renderEditor();
    };
    cell.model.metadataChanged.connect(changed, cell);
    cell.model.contentChanged.connect(changed, cell);
  }
}

/** A form in a dialog: `getValue` is the form's value (null if the user has something to fix). */
class FormBody<T> extends Widget {
  constructor(readonly form: Form<T>) {
    super({ node: form.node });
  }

  getValue(): T | null {
    return this.form.read();
  }
}

/**
 * A dialog that stays open while its form has something to fix: the form shows what, next to
 * the field. `resolve` is what both the accept button and Enter go through. With `send`, the
 * form's value goes to the server before the dialog closes, so that a value the server refuses
 * is shown at its field while the user can still fix it.
 */
class FormDialog<T, R> extends Dialog<T | null> {
  /** what `send` answered, or how it failed; the dialog closed on it */
  outcome: { answer: R } | { error: unknown } | null = null;
  private sending = false;

  constructor(
    private readonly formBody: FormBody<T>,
    title: string,
    accept: string,
    private readonly send?: (value: T) => Promise<R | null>,
  ) {
    super({
      title,
      body: formBody,
      buttons: [Dialog.cancelButton(), Dialog.okButton({ label: accept })],
      focusNodeSelector: "input, textarea",
    });
  }

  resolve(index?: number): void {
    if (this.sending) return; // the server has not answered yet: neither button closes it
    // the accept button is the last one and the default
    if (index !== undefined && index !== 1) return super.resolve(index);
    const value = this.formBody.form.read();
    if (value === null) return;
    if (!this.send) return super.resolve(index);
    this.sending = true;
    this.send(value).then(
      (answer) => this.settle(index, answer === null ? null : { answer }),
      (error: unknown) => this.settle(index, { error }),
    );
  }

  private settle(index: number | undefined, outcome: FormDialog<T, R>["outcome"]): void {
    this.sending = false;
    if (outcome === null || this.isDisposed) return;
    this.outcome = outcome;
    super.resolve(index);
  }
}

async function askForm<T>(form: Form<T>, title: string, accept: string): Promise<T | null> {
  const result = await new FormDialog<T, never>(new FormBody(form), title, accept).launch();
  return result.button.accept ? result.value : null;
}

/**
 * A form whose value the server takes before the dialog closes: what `send` answered, null if
 * the user cancelled; `send` answers null to keep the dialog open, and its errors are thrown here.
 */
async function askServer<T, R>(
  form: Form<T>,
  title: string,
  accept: string,
  send: (value: T) => Promise<R | null>,
): Promise<R | null> {
  const dialog = new FormDialog(new FormBody(form), title, accept, send);
  const result = await dialog.launch();
  const outcome = dialog.outcome;
  if (!result.button.accept || outcome === null) return null;
  if ("error" in outcome) throw outcome.error;
  return outcome.answer;
}

class ToolbarExtension implements DocumentRegistry.IWidgetExtension<NotebookPanel, INotebookModel> {
  constructor(
    private readonly app: JupyterFrontEnd,
    private readonly sidebar: PipelinePanel,
  ) {}

  private show(panel: NotebookPanel): void {
    this.sidebar.setNotebook(panel);
    this.app.shell.activateById(this.sidebar.id);
  }

  createNew(panel: NotebookPanel): IDisposable {
    const run = new ToolbarButton({
      className: "kfpj-run-button",
      label: "Run pipeline",
      tooltip: "Save the notebook and run its pipeline on this machine",
      onClick: async () => {
        this.show(panel);
        try {
          await saveInTurn(panel.context);
          const path = panel.context.path;
          // the parameters as saved just now, with their types: the dialog's fields
          const pipeline = await api<ParamsJson>(`inspect?path=${encodeURIComponent(path)}`);
          const specs = paramSpecs(pipeline);
          const form = runOptionsForm(path, specs, initialChoices(specs, lastChoices(path)));
          const started = await askServer(form, "Run the pipeline", "Run", async (request) => {
            this.sidebar.showMessage("starting the run ...");
            try {
              return await post<{ id: string }>("runs", request);
            } catch (e) {
              // a parameter's value the server refused: said at its field, the dialog stays open
              if (e instanceof ApiError && e.status === 400 && form.refused(e.body.fields)) {
                this.sidebar.showMessage("");
                return null;
              }
              throw e;
            }
          });
          if (!started) return;
          this.sidebar.followRun(started.id);
        } catch (e) {
          this.sidebar.showMessage(`the run did not start: ${e instanceof Error ? e.message : e}`);
          if (e instanceof ApiError && e.status === 422) void this.sidebar.refresh();
        }
      },
    });
    const submit = new ToolbarButton({
      className: "kfpj-submit-button",
      label: "Submit",
      tooltip: "Save the notebook and submit its pipeline to Kubeflow Pipelines or Argo",
      onClick: async () => {
        this.show(panel);
        await saveInTurn(panel.context);
        await this.sidebar.refresh();
        // the parameters with their declared types, as the panel last read them (or its outline)
        const specs = paramSpecs(this.sidebar.parameters);
        let saved: { targets: SavedTarget[]; last: string | null; engines: string[]; error?: string };
        try {
          saved = await api<typeof saved>("targets");
        } catch (e) {
          this.sidebar.showMessage(`cannot submit: ${e instanceof Error ? e.message : e}`);
          return;
        }
        const note = saved.error ? `the saved targets could not be read: ${saved.error}` : "";
        const form = submitForm(specs, saved.targets, saved.last, saved.engines, note);
        try {
          const info = await askServer(form, "Submit the pipeline", "Submit", async (request) => {
            this.sidebar.showMessage("submitting ...");
            try {
              return await post<{ run_id: string; url: string | null; engine: string; name: string }>(
                "submit",
                { path: panel.context.path, ...request },
              );
            } catch (e) {
              // a parameter's value the server refused: said at its field, the dialog stays open
              if (e instanceof ApiError && e.status === 400 && form.refused(e.body.fields)) {
                this.sidebar.showMessage("");
                return null;
              }
              throw e;
            }
          });
          if (info) this.sidebar.showSubmitted(info);
        } catch (e) {
          this.sidebar.showMessage(`not submitted: ${e instanceof Error ? e.message : e}`);
          void showErrorMessage("Submit", e instanceof Error ? e.message : String(e));
        }
      },
    });
    const settings = new ToolbarButton({
      className: "kfpj-settings-button",
      label: "Pipeline settings…",
      tooltip: "The pipeline's name, description and experiment (in the notebook's metadata)",
      onClick: async () => {
        const shared = panel.content.model?.sharedModel as MetadataNotebook | undefined;
        if (!shared) return;
        const form = pipelineSettingsForm(
          readPipelineSettings(shared.getMetadata()),
          defaultPipelineName(panel.context.path),
        );
        const next = await askForm<PipelineSettings>(form, "Pipeline settings", "Apply");
        // one undoable change; the notebook is dirty until the user saves it
        if (next) applyPipelineSettings(shared, next);
      },
    });
    panel.toolbar.insertItem(10, "kfpj-run", run);
    panel.toolbar.insertItem(11, "kfpj-submit", submit);
    panel.toolbar.insertItem(12, "kfpj-settings", settings);
    return {
      get isDisposed() {
        return run.isDisposed;
      },
      dispose() {
        run.dispose();
        submit.dispose();
        settings.dispose();
      },
    };
  }
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: "kfp-jupyter-labextension:plugin",
  description: "Pipeline panel, step editor, Run pipeline and Submit for kfp-jupyter notebooks.",
  autoStart: true,
  requires: [INotebookTracker],
  optional: [ILabShell],
  activate: (app: JupyterFrontEnd, tracker: INotebookTracker) => {
    const sidebar = new PipelinePanel();
    sidebar.title.iconClass = "kfpj-icon jp-SideBar-tabIcon";
    app.shell.add(sidebar, "left", { rank: 600 });
    sidebar.reveal = () => app.shell.activateById(sidebar.id); // a failed cell's mark opens it
    app.docRegistry.addWidgetExtension("Notebook", new ToolbarExtension(app, sidebar));

    tracker.widgetAdded.connect((_, panel) => {
      watchSaves(panel.context);
      void panel.context.ready.then(() => {
        markAll(panel, sidebar);
        panel.content.model?.cells.changed.connect(() => setTimeout(() => markAll(panel, sidebar)));
      });
      panel.context.saveState.connect((_, state) => {
        if (state === "completed" && tracker.currentWidget === panel) sidebar.refreshIfVisible();
      });
    });
    tracker.currentChanged.connect((_, panel) => sidebar.setNotebook(panel));
    tracker.activeCellChanged.connect(() => sidebar.renderEditor(true));
    sidebar.setNotebook(tracker.currentWidget);
  },
};

export default plugin;
