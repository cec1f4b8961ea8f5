/**
 * The Submit dialog's form: a saved target (which fills in the fields it has), the cluster's
 * fields, and the pipeline's parameters as the Run dialog takes them (runoptions.ts): typed
 * fields, only the values the user changed sent, each as typed for the server to read by the
 * parameter's declared type, and a value the server refuses said at its field while the dialog
 * stays open. Plain DOM; index.ts puts it in a JupyterLab Dialog.
 */

import { h } from "./dom";
import {
  type Form,
  type ParamSpec,
  changedParams,
  formStyle,
  initialChoices,
  paramFields,
  refusedParameters,
  showErrors,
} from "./runoptions";

/** A saved target (`kfp-jupyter targets add`), as `GET targets` lists it: never a token. */
export interface SavedTarget {
  name: string;
  engine: string;
  host: string | null;
  namespace: string | null;
  experiment: string | null;
  token_env: string | null;
}

/** The fields a saved target fills in; what the user types over them wins. */
const TARGET_FIELDS = ["engine", "host", "namespace", "experiment", "token_env"] as const;

/** The body of `POST submit` but its `path`: the filled-in fields, and the changed parameters. */
export type SubmitRequest = Record<string, string | Record<string, string | boolean>>;

export interface SubmitForm extends Form<SubmitRequest> {
  /** Show the server's refusal of parameters at their fields; false if it names none of them. */
  refused(fields: Record<string, string> | undefined): boolean;
}

export function submitForm(
  specs: ParamSpec[],
  targets: SavedTarget[],
  last: string | null,
  engines: readonly string[],
  note = "",
): SubmitForm {
  const node = h("div", { class: "kfpj-form kfpj-submit-form" }, formStyle());
  if (note) node.append(h("p", { class: "kfpj-form-error" }, note));
  const row = (label: string, el: HTMLElement): void => {
    node.append(h("label", {}, label + " ", el));
  };
  const saved = h("select", { name: "target" });
  saved.append(new Option(targets.length ? "(none)" : "(none saved)", ""));
  for (const t of targets) saved.append(new Option(`${t.name} (${t.engine})`, t.name));
  row("saved target", saved);
  const engine = h("select", { name: "engine" });
  for (const e of engines) engine.append(new Option(e, e));
  row("engine", engine);
  const fields: Record<string, HTMLInputElement> = {};
  for (const [name, label, hint] of [
    ["host", "host", "KFP API or Kubernetes API address"],
    ["namespace", "namespace", ""],
    ["experiment", "experiment", ""],
    ["run_name", "run name", ""],
    ["token_env", "token variable", "the NAME of a variable holding a bearer token"],
  ]) {
    fields[name] = h("input", { name, placeholder: hint });
    row(label, fields[name]);
  }
  const fill = (): void => {
    const t = targets.find((x) => x.name === saved.value);
    if (!t) return;
    for (const key of TARGET_FIELDS) {
      if (key === "engine") engine.value = t.engine;
      else fields[key].value = t[key] ?? "";
    }
  };
  saved.addEventListener("change", fill);
  if (last && targets.some((t) => t.name === last)) {
    saved.value = last;
    fill();
  }
  const params = paramFields(specs, initialChoices(specs).values);
  const summary = h("div", { class: "kfpj-form-error", role: "alert" });
  node.append(params.node, summary);
  return {
    node,
    read(): SubmitRequest | null {
      const { params: changed, errors } = changedParams(specs, params.values());
      if (!showErrors(params.fields, errors ?? {}, summary)) return null;
      const out: SubmitRequest = {};
      for (const el of [saved, engine, ...Object.values(fields)]) if (el.value) out[el.name] = el.value;
      out.params = changed;
      return out;
    },
    refused(refused: Record<string, string> | undefined): boolean {
      const errors = refusedParameters(refused, specs);
      if (errors === null) return false;
      showErrors(params.fields, errors, summary);
      return true;
    },
  };
}
