/** The panel's tab icon: a small pipeline (three steps, two edges), in the theme's icon colour. */

import { LabIcon } from "@jupyterlab/ui-components";

const SVG = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
<g class="jp-icon3" fill="#616161">
<rect x="2" y="2" width="9" height="6" rx="1.5"/>
<rect x="13" y="9" width="9" height="6" rx="1.5"/>
<rect x="2" y="16" width="9" height="6" rx="1.5"/>
<path d="M6 8v1.5a1.5 1.5 0 0 0 1.5 1.5H13v1.6H7.5A3.1 3.1 0 0 1 4.4 9.5V8z"/>
<path d="M17.5 15v1.5a3.1 3.1 0 0 1-3.1 3.1H11V18h3.4a1.5 1.5 0 0 0 1.5-1.5V15z"/>
</g></svg>`;

export const pipelineIcon = new LabIcon({ name: "kfp-jupyter:pipeline", svgstr: SVG });
