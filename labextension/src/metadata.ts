/**
 * The pipeline's own settings (name, description, experiment) in the notebook's metadata, where
 * kfp_jupyter/notebook/metadata.py reads them: `metadata.kfp_jupyter.{name, description,
 * experiment}`, which win over Kale's `metadata.kubeflow_notebook` keys. Reading follows the
 * same precedence, so the editor shows what `kfp-jupyter compile` would use.
 *
 * Writing is one step of the notebook's undo. Why it takes more than for a cell's tags (undo.ts):
 * the notebook's Y.UndoManager has only the cells in its scope, so a change of the notebook's
 * metadata is never recorded, whatever the transaction's origin. The metadata's Y.Map is added to
 * the scope (Y.UndoManager.addToScope, public Yjs API) before the write; from then on, changes
 * to notebook metadata made as notebook changes can be undone too, which is what a user expects
 * of "Edit > Undo" after changing a setting. A consequence: JupyterLab's own later writes of
 * notebook metadata (a new kernel's `kernelspec` and `language_info`) become undo steps as well,
 * as cell changes always are.
 *
 * Structural types only (no JupyterLab import): the logic runs in Node against the real ydoc, and
 * the editor is plain DOM that the sidebar panel or a dialog can mount.
 */

import { type Form, fieldRow, formStyle, showErrors } from "./runoptions";

export const OUR_KEY = "kfp_jupyter";
export const KALE_KEY = "kubeflow_notebook";

export interface PipelineSettings {
  /** "" = the default (from the notebook's file name) */
  name: string;
  description: string;
  experiment: string;
}

export type SettingsKey = keyof PipelineSettings;

export const SETTINGS_LABELS: Record<SettingsKey, string> = {
  name: "Pipeline name",
  description: "Description",
  experiment: "Experiment",
};

type Json = Record<string, unknown>;

function obj(v: unknown): Json {
  return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Json) : {};
}

function text(d: Json, key: string): string | null {
  const v = d[key];
  return typeof v === "string" && v.trim() ? v.trim() : null;
}

/** The settings the compiler would use, from the notebook's whole metadata. */
export function readPipelineSettings(metadata: unknown): PipelineSettings {
  const ours = obj(obj(metadata)[OUR_KEY]);
  const kale = obj(obj(metadata)[KALE_KEY]);
  return {
    name: text(ours, "name") ?? text(ours, "pipeline_name") ?? text(kale, "pipeline_name") ?? "",
    description: text(ours, "description") ?? text(kale, "pipeline_description") ?? "",
    experiment:
      text(ours, "experiment") ??
      text(kale, "experiment_name") ??
      text(obj(kale.experiment), "name") ??
      "",
  };
}

/** As kfp_jupyter.notebook.metadata.suggest_pipeline_name. */
export function suggestPipelineName(text: string): string {
  const s = text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "");
  return (s || "pipeline").slice(0, 128).replace(/-+$/, "");
}

/** The pipeline name a notebook gets when its metadata names none. */
export function defaultPipelineName(path: string): string {
  const file = path.split("/").pop() ?? "";
  return suggestPipelineName(file.replace(/\.[^.]*$/, ""));
}

/** What is wrong with the settings, by field (empty if nothing): the compiler's name rule. */
export function settingsProblems(s: PipelineSettings): Partial<Record<SettingsKey, string>> {
  const name = s.name.trim();
  if (name && !/^[a-z0-9][a-z0-9-]{0,127}$/.test(name)) {
    return {
      name: `use lowercase letters, digits and '-' (at most 128), e.g. "${suggestPipelineName(name)}"`,
    };
  }
  return {};
}

/**
 * The notebook's new `kfp_jupyter` object for `next` (null: the key goes), and whether anything
 * changes. Only the settings that differ from what the compiler reads now are written, and every
 * other key of `kfp_jupyter` stays. A name replaces `pipeline_name` (which `name` would override
 * anyway); an emptied field is removed, so the default (or Kale's setting) applies again.
 */
export function writePipelineSettings(
  metadata: unknown,
  next: PipelineSettings,
): { ours: Json | null; changed: boolean } {
  const before = obj(obj(metadata)[OUR_KEY]);
  const now = readPipelineSettings(metadata);
  const ours: Json = { ...before };
  let changed = false;
  for (const key of ["name", "description", "experiment"] as const) {
    const value = next[key].trim();
    if (value === now[key]) continue;
    changed = true;
    if (key === "name") delete ours.pipeline_name;
    if (value) ours[key] = value;
    else delete ours[key];
  }
  return { ours: Object.keys(ours).length ? ours : null, changed };
}

/** The parts of JupyterLab's shared notebook (YNotebook) this uses. */
export interface MetadataNotebook {
  transact(f: () => void, undoable?: boolean): void;
  getMetadata(): unknown;
  setMetadata(key: string, value: never): void;
  deleteMetadata(key: string): void;
  /** YNotebook's Y.Map of notebook-level state; its "metadata" entry is the metadata's Y.Map */
  readonly ymeta?: { get(key: string): unknown };
  /** Y.UndoManager of the YNotebook (not part of ISharedNotebook's declared interface) */
  readonly undoManager?: { stopCapturing(): void; addToScope(type: never): void };
}

/**
 * Write `next` into the notebook's metadata as one undoable step; the notebook is dirty after.
 * False if nothing changed (no write, no undo step).
 */
export function applyPipelineSettings(nb: MetadataNotebook, next: PipelineSettings): boolean {
  const { ours, changed } = writePipelineSettings(nb.getMetadata(), next);
  if (!changed) return false;
  const map = nb.ymeta?.get("metadata");
  if (map && nb.undoManager) nb.undoManager.addToScope(map as never);
  nb.undoManager?.stopCapturing();
  nb.transact(() => {
    if (ours) nb.setMetadata(OUR_KEY, ours as never);
    else nb.deleteMetadata(OUR_KEY);
  }, true);
  nb.undoManager?.stopCapturing();
  return true;
}

// ---------------------------------------------------------------------------------------------
// The editor (plain DOM).

/** The settings form, filled with `current`; an empty name shows the default it would get. */
export function pipelineSettingsForm(
  current: PipelineSettings,
  defaultName: string,
): Form<PipelineSettings> {
  const node = document.createElement("div");
  node.className = "kfpj-form kfpj-pipeline-settings";
  node.append(formStyle());
  const fields: Record<string, { input: HTMLInputElement | HTMLTextAreaElement; error: HTMLElement }> = {};
  const hints: Record<SettingsKey, [string, string]> = {
    name: ["lowercase, digits, -", `default: ${defaultName}`],
    description: ["", "what the pipeline does"],
    experiment: ["", "none: the default experiment"],
  };
  for (const key of ["name", "description", "experiment"] as const) {
    const input = document.createElement(key === "description" ? "textarea" : "input");
    if (input instanceof HTMLTextAreaElement) input.rows = 2;
    input.dataset.kfpSetting = key;
    input.value = current[key];
    input.placeholder = hints[key][1];
    input.spellcheck = key === "description";
    const { row, error } = fieldRow(SETTINGS_LABELS[key], hints[key][0], input, key);
    fields[key] = { input, error };
    node.append(row);
  }
  const summary = document.createElement("div");
  summary.className = "kfpj-form-error";
  node.append(summary);
  return {
    node,
    read(): PipelineSettings | null {
      const s: PipelineSettings = {
        name: fields.name.input.value.trim(),
        description: fields.description.input.value.trim(),
        experiment: fields.experiment.input.value.trim(),
      };
      const problems = settingsProblems(s);
      const named: Record<string, string> = {};
      for (const [k, v] of Object.entries(problems)) named[k] = v;
      const ok = showErrors(fields, named, summary);
      if (!ok) {
        const keys = Object.keys(problems) as SettingsKey[];
        summary.textContent = `Fix ${keys.map((k) => SETTINGS_LABELS[k]).join(", ")} to go on.`;
      }
      return ok ? s : null;
    },
  };
}

/** What the editor needs of a notebook panel (JupyterLab's NotebookPanel has it). */
export interface SettingsHost {
  readonly context: { readonly path: string };
  readonly content: { readonly model: { readonly sharedModel: unknown } | null };
}

/**
 * The pipeline settings editor of `panel`'s notebook, self-contained: the form and an Apply
 * button, which writes the settings as one undoable change (the notebook is then dirty; saving
 * it is what `kfp-jupyter compile` reads). Mount it anywhere, e.g. in the sidebar panel.
 */
export function pipelineSettingsEditor(panel: SettingsHost): HTMLElement {
  const box = document.createElement("section");
  box.className = "kfpj-settings-editor";
  const title = document.createElement("h3");
  title.textContent = "Pipeline settings";
  box.append(title);
  const shared = panel.content.model?.sharedModel as MetadataNotebook | undefined;
  if (!shared) return box;
  const form = pipelineSettingsForm(
    readPipelineSettings(shared.getMetadata()),
    defaultPipelineName(panel.context.path),
  );
  const apply = document.createElement("button");
  apply.className = "jp-mod-styled jp-mod-accept";
  apply.dataset.kfpAction = "apply-settings";
  apply.textContent = "Apply";
  const status = document.createElement("div");
  status.className = "kfpj-settings-status";
  apply.onclick = () => {
    const s = form.read();
    if (!s) return;
    const model = panel.content.model?.sharedModel as MetadataNotebook | undefined;
    if (!model) return;
    status.textContent = applyPipelineSettings(model, s)
      ? "Changed: save the notebook to keep it (Edit > Undo takes it back)."
      : "Nothing changed.";
  };
  box.append(form.node, apply, status);
  return box;
}
