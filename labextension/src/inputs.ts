/** "Load inputs" of a step's details in JupyterLab: the values a step received in a run, put
 * into the notebook's kernel by the same magic a user would type. */

import type { Kernel } from "@jupyterlab/services";
import type { StepDetails } from "kfp-jupyter-dag";

const quote = (s: string): string => `'${s.replace(/'/g, "'\\''")}'`;

/** Run `%kfp inputs STEP --run RUN` in `kernel`; `say` shows progress, then what it printed. */
export async function loadInputs(
  kernel: Kernel.IKernelConnection | null | undefined,
  d: StepDetails & { store?: string },
  say: (text: string) => void,
): Promise<void> {
  if (!kernel || !d.step || !d.run_id) {
    say("no kernel: start the notebook's kernel, then load the inputs again");
    return;
  }
  const code =
    "%load_ext kfp_jupyter\n" +
    `%kfp inputs ${quote(d.step)} --run ${quote(d.run_id)}` +
    (d.store ? ` --store ${quote(d.store)}` : "");
  let text = "";
  const future = kernel.requestExecute({ code, silent: false, store_history: false });
  future.onIOPub = (msg) => {
    const c = msg.content as { name?: string; text?: string; ename?: string; evalue?: string };
    if (msg.header.msg_type === "stream" && c.text) text += c.text;
    if (msg.header.msg_type === "error") text += `${c.ename}: ${c.evalue}`;
  };
  say("loading…");
  await future.done;
  say(text.trim() || "done");
}
