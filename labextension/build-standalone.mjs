// Builds the standalone dashboard (the panes without JupyterLab) into jupyter_futures/dashboard/static/.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync } from 'node:fs';

const out = '../jupyter_futures/dashboard/static';
mkdirSync(out, { recursive: true });
await build({
  entryPoints: { dashboard: 'src/standalone/main.ts' },
  bundle: true,
  minify: true,
  format: 'iife',
  target: 'es2020',
  outdir: out,
  legalComments: 'none',
  logLevel: 'warning'
});
await build({
  entryPoints: { dashboard: 'src/standalone/dashboard.css' },
  bundle: true,
  minify: true,
  outdir: out,
  logLevel: 'warning'
});
copyFileSync('src/standalone/index.html', `${out}/index.html`);
