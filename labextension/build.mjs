// Build the JupyterLab extension into ../kfp_jupyter/labextension (shipped in the wheel, committed,
// so `pip install` needs no Node.js): tsc, then JupyterLab's own builder (webpack, module
// federation) against the installed JupyterLab's core packages.
// The Python with JupyterLab: $PYTHON, else ../.venv/bin/python, else python3.
import { execFileSync } from "node:child_process";
import { copyFileSync, existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const venv = join(here, "..", ".venv", "bin", "python");
const python = process.env.PYTHON || (existsSync(venv) ? venv : "python3");
const core = execFileSync(
  python,
  ["-c", "import jupyterlab, os; print(os.path.join(os.path.dirname(jupyterlab.__file__), 'staging'))"],
  { encoding: "utf8" },
).trim();
const run = (script, args) =>
  execFileSync(process.execPath, [join(here, "node_modules", script), ...args], {
    cwd: here,
    stdio: "inherit",
  });
run("typescript/bin/tsc", ["-p", "."]);
run("@jupyterlab/builder/lib/build-labextension.js", ["--core-path", core, "."]);
// JupyterLab reads install.json to tell the user how the extension was installed (and removed).
copyFileSync(join(here, "install.json"), join(here, "..", "kfp_jupyter", "labextension", "install.json"));
