// Build the drawing and the widget with esbuild, and the drawing's type declarations with tsc.
//   ../kfp_jupyter/jupyter/static/widget.js  the anywidget front end (one self-contained ES module,
//                                            committed, so users need no Node.js)
//   dist/dag.js + dist/*.d.ts               the standalone drawing, for the JupyterLab extension
// `node build.mjs --check` builds into a temporary folder and fails if the committed widget.js
// differs from what the sources give (CI: the committed file is not stale).
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const staticDir = join(here, "..", "kfp_jupyter", "jupyter", "static");
const check = process.argv.includes("--check");
const out = check ? mkdtempSync(join(tmpdir(), "kfpj-js-")) : staticDir;

const common = {
  bundle: true,
  format: "esm",
  target: "es2020",
  charset: "utf8",
  legalComments: "none",
  logLevel: "warning",
};
const banner = {
  js: "// Built from js/src by `npm run build` (esbuild); edit the sources, not this file.",
};

await esbuild.build({
  ...common,
  banner,
  entryPoints: [join(here, "src", "widget.ts")],
  outfile: join(out, "widget.js"),
});
if (check) {
  const fresh = readFileSync(join(out, "widget.js"), "utf8");
  const committed = readFileSync(join(staticDir, "widget.js"), "utf8");
  rmSync(out, { recursive: true, force: true });
  if (fresh !== committed) {
    console.error("kfp_jupyter/jupyter/static/widget.js is stale: run `npm run build` in js/");
    process.exit(1);
  }
  console.log("widget.js is up to date");
} else {
  await esbuild.build({
    ...common,
    banner,
    entryPoints: [join(here, "src", "dag.ts")],
    outfile: join(here, "dist", "dag.js"),
  });
  execFileSync(
    process.execPath,
    [join(here, "node_modules", "typescript", "bin", "tsc"), "-p", here, "--emitDeclarationOnly"],
    { stdio: "inherit" },
  );
}
