/** The extension's icon: a scheduler node fanning out to three workers. */
import { LabIcon } from '@jupyterlab/ui-components';

const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
<g class="jp-icon3" fill="#616161">
<circle cx="12" cy="4.5" r="3"/>
<circle cx="4" cy="19" r="2.6"/><circle cx="12" cy="19" r="2.6"/><circle cx="20" cy="19" r="2.6"/>
<path d="M11 7h2v4.2l6.6 4.1-1 1.7L13 13.4V16.5h-2v-3.1l-5.6 3.6-1-1.7L11 11.2z"/>
</g></svg>`;

/** The sidebar, tab and Running-panel icon. */
export const clusterIcon = new LabIcon({ name: 'jupyter-futures:cluster', svgstr: svg });
