/**
 * JupyterLab / Notebook 7 plugins: the clusters sidebar, dashboard panes, Running section, status bar;
 * live notebook outputs marked "no longer live" when their kernel goes.
 */
import { ILayoutRestorer, type JupyterFrontEnd, type JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette, IThemeManager, MainAreaWidget, WidgetTracker } from '@jupyterlab/apputils';
import { INotebookTracker } from '@jupyterlab/notebook';
import type { DockLayout, Widget } from '@lumino/widgets';
import { IRunningSessionManagers } from '@jupyterlab/running';
import { IStatusBar } from '@jupyterlab/statusbar';
import type { ProfileScope } from './core/profileScope';
import type { Cluster, WorkerInfo } from './core/types';
import { FuturesPane } from './panes/futuresPane';
import { LogsPane } from './panes/logsPane';
import type { Pane, PaneContext, PaneKind } from './panes/pane';
import { ProfilePane } from './panes/profilePane';
import { ProgressPane } from './panes/progressPane';
import { TaskStreamPane } from './panes/taskStream';
import { WorkersPane } from './panes/workersPane';
import { ClusterStore } from './lab/clusterStore';
import { insertConnectCell, trackerBridge } from './lab/notebookBridge';
import { watchStaleOutputs } from './lab/staleOutputs';
import { PaneWidget, makeMainAreaWidget, paneId } from './lab/paneWidget';
import { addRunningSection } from './lab/runningSection';
import { ClusterSidebar } from './lab/sidebar';
import { ClusterStatusItem } from './lab/statusItem';

/**
 * Notebook 7 shows its panel below the notebook (a tab panel in a vertical split) with no height
 * of its own at first: give it 40% of the height when it has less than a fifth.
 */
function giveRoomBelow(widget: Widget): void {
  const split = widget.parent?.parent?.parent as (Widget & { relativeSizes?: () => number[]; setRelativeSizes?: (s: number[]) => void }) | null;
  const sizes = split?.relativeSizes?.();
  if (split?.setRelativeSizes && sizes && sizes.length === 2 && sizes[1] < 0.2) {
    split.setRelativeSizes([0.6, 0.4]);
  }
}

const PANE_KINDS: PaneKind[] = ['task-stream', 'progress', 'workers', 'futures', 'profile', 'logs'];

namespace CommandIDs {
  export const openPane = 'jupyter-futures:open-pane';
  export const openLayout = 'jupyter-futures:open-layout';
  export const showSidebar = 'jupyter-futures:show-sidebar';
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-futures:plugin',
  description: 'jupyter_futures clusters and live dashboards',
  autoStart: true,
  optional: [ILayoutRestorer, INotebookTracker, IRunningSessionManagers, IStatusBar, IThemeManager, ICommandPalette],
  activate: (
    app: JupyterFrontEnd,
    restorer: ILayoutRestorer | null,
    notebooks: INotebookTracker | null,
    running: IRunningSessionManagers | null,
    statusBar: IStatusBar | null,
    themes: IThemeManager | null,
    palette: ICommandPalette | null
  ) => {
    const store = new ClusterStore();
    const tracker = new WidgetTracker<MainAreaWidget<PaneWidget>>({ namespace: 'jupyter-futures-pane' });
    const bridge = trackerBridge(app, notebooks);

    const makePane = (kind: PaneKind, ctx: PaneContext): Pane => {
      switch (kind) {
        case 'task-stream':
          return new TaskStreamPane(ctx);
        case 'progress':
          return new ProgressPane(ctx);
        case 'workers':
          return new WorkersPane(ctx);
        case 'futures':
          return new FuturesPane(ctx, bridge, {
            openProfile: scope => void openProfile(ctx.cluster, ctx.clusterName ?? ctx.cluster, scope)
          });
        case 'profile':
          return new ProfilePane(ctx);
        case 'logs':
          return new LogsPane(ctx);
      }
    };

    /** Opens (or shows) the pane of a cluster; returns its widget. */
    const openPane = async (
      clusterId: string,
      kind: PaneKind,
      name: string,
      options: { mode?: DockLayout.InsertMode; ref?: string; activate?: boolean } = {}
    ): Promise<MainAreaWidget<PaneWidget>> => {
      const existing = tracker.find(w => w.id === paneId(clusterId, kind));
      if (existing) {
        if (options.activate !== false) {
          app.shell.activateById(existing.id);
        }
        return existing;
      }
      const pane = makePane(kind, { feed: store.feed, cluster: clusterId, clusterName: name });
      const widget = makeMainAreaWidget(new PaneWidget(pane, clusterId, name));
      app.shell.add(widget, 'main', { mode: options.mode, ref: options.ref ?? undefined });
      if (!widget.parent) {
        // Notebook 7: the main area holds the notebook alone and refuses a second widget (silently).
        // The panes go to the panel below the notebook instead, as tabs, so both stay in view.
        app.shell.add(widget, 'down');
        giveRoomBelow(widget);
      }
      await tracker.add(widget);
      if (options.activate !== false) {
        app.shell.activateById(widget.id);
      }
      markIfGone(widget);
      return widget;
    };

    /** Opens (or focuses) the profile pane of a cluster, scoped to a future or a cell's futures. */
    const openProfile = async (clusterId: string, name: string, scope: ProfileScope) => {
      const futures = tracker.find(w => w.id === paneId(clusterId, 'futures'));
      const isNew = !tracker.find(w => w.id === paneId(clusterId, 'profile'));
      // A new profile pane goes below the futures pane it was asked from.
      const widget = await openPane(clusterId, 'profile', name, isNew && futures ? { mode: 'split-bottom', ref: futures.id } : {});
      // The futures may have run long ago: their whole trees are kept, so look at all time.
      (widget.content.pane as ProfilePane).setScope(scope, { window: 'all' });
    };

    // A pane restored for a cluster that no longer runs says so (the feed never heard of it).
    const markIfGone = (w: MainAreaWidget<PaneWidget>) => {
      const server = store.server.kind;
      if (store.loaded && (server === 'ok' || server === 'mismatch') && !store.get(w.content.clusterId)) {
        w.content.pane.markGone();
      }
    };
    store.changed.connect(() => tracker.forEach(markIfGone));

    // Beside what the user works on (a notebook, usually): task stream on top, progress and workers below.
    const openLayout = async (cluster: { id: string; name: string }) => {
      const current = app.shell.currentWidget;
      const beside = current && !tracker.has(current as any) ? { mode: 'split-right' as const, ref: current.id } : {};
      const stream = await openPane(cluster.id, 'task-stream', cluster.name, { ...beside, activate: false });
      const progress = await openPane(cluster.id, 'progress', cluster.name, { mode: 'split-bottom', ref: stream.id, activate: false });
      await openPane(cluster.id, 'workers', cluster.name, { mode: 'split-right', ref: progress.id, activate: false });
      if (!stream.isVisible) {
        // Notebook 7 puts the three in tabs below the notebook: show the task stream.
        app.shell.activateById(stream.id);
      }
    };

    const openWorkerConsole = async (cluster: Cluster, worker: WorkerInfo) => {
      const kernels = app.serviceManager.kernels;
      await kernels.refreshRunning();
      const before = new Set([...kernels.running()].map(k => k.id));
      let kernelId: string | null = null;
      for (let attempt = 0; attempt < 6 && !kernelId; attempt++) {
        const reply = await store.api.openWorkerKernel(cluster.id, worker.address);
        kernelId = reply.kernel_id;
        if (!kernelId) {
          // The server has not seen the connection file yet: look for the new kernel ourselves.
          await kernels.refreshRunning();
          const fresh = [...kernels.running()].filter(k => !before.has(k.id));
          if (fresh.length === 1) {
            kernelId = fresh[0].id;
          } else {
            await new Promise(r => setTimeout(r, 500));
          }
        }
      }
      if (!kernelId) {
        throw new Error(
          'The worker started its kernel, but the Jupyter server does not list it. ' +
            'Is ServerApp.allow_external_kernels on? (the server extension sets it up)'
        );
      }
      await kernels.refreshRunning();
      await app.commands.execute('console:create', {
        kernelPreference: { id: kernelId },
        name: `${worker.name} · ${cluster.name}`,
        activate: true
      });
    };

    const sidebar = new ClusterSidebar(store, {
      openPane: (c, kind) => void openPane(c.id, kind, c.name),
      openLayout: c => void openLayout(c),
      connectNotebook: c => insertConnectCell(notebooks, c.address),
      openWorkerConsole
    });
    app.shell.add(sidebar, 'left', { rank: 900 });
    restorer?.add(sidebar, sidebar.id);

    const revealSidebar = (id?: string) => {
      app.shell.activateById(sidebar.id);
      if (id) {
        sidebar.node.querySelector(`.jf-cluster[data-id="${CSS.escape(id)}"]`)?.scrollIntoView({ block: 'nearest' });
      }
    };

    app.commands.addCommand(CommandIDs.openPane, {
      label: args => `Open jupyter_futures ${String(args.kind ?? 'pane')}`,
      describedBy: {
        args: {
          type: 'object',
          properties: {
            cluster: { type: 'string' },
            kind: { type: 'string', enum: PANE_KINDS },
            name: { type: 'string' },
            mode: { type: 'string', enum: ['split-right', 'split-left', 'split-top', 'split-bottom', 'tab-after', 'tab-before'] },
            ref: { type: 'string' }
          }
        }
      },
      execute: async args => {
        const cluster = String(args.cluster ?? store.current()?.id ?? '');
        const kind = (PANE_KINDS.includes(args.kind as PaneKind) ? args.kind : 'task-stream') as PaneKind;
        if (!cluster) {
          revealSidebar();
          return;
        }
        return openPane(cluster, kind, String(args.name ?? store.get(cluster)?.name ?? cluster), {
          mode: args.mode as any,
          ref: args.ref ? String(args.ref) : undefined
        });
      }
    });
    app.commands.addCommand(CommandIDs.openLayout, {
      label: 'Open jupyter_futures dashboard layout',
      caption: 'Task stream, progress and workers of the selected (or first) cluster, side by side',
      execute: async args => {
        const id = String(args.cluster ?? store.current()?.id ?? '');
        const c = store.get(id);
        if (!c) {
          revealSidebar();
          return;
        }
        await openLayout(c);
      }
    });
    app.commands.addCommand(CommandIDs.showSidebar, {
      label: 'Show jupyter_futures clusters',
      execute: () => revealSidebar()
    });
    palette?.addItem({ command: CommandIDs.openLayout, category: 'jupyter_futures' });
    palette?.addItem({ command: CommandIDs.showSidebar, category: 'jupyter_futures' });

    if (restorer) {
      void restorer.restore(tracker, {
        command: CommandIDs.openPane,
        args: w => ({ cluster: w.content.clusterId, kind: w.content.kind, name: w.content.clusterName }),
        name: w => `${w.content.clusterId}:${w.content.kind}`
      });
    }

    if (running) {
      addRunningSection(running, store, id => revealSidebar(id));
    }
    if (statusBar) {
      const item = new ClusterStatusItem(store, () => revealSidebar());
      statusBar.registerStatusItem('jupyter-futures:status', {
        item,
        align: 'left',
        rank: 50,
        isActive: () => store.clusters.length > 0,
        activeStateChanged: store.changed
      });
    }
    if (themes) {
      const redraw = () => tracker.forEach(w => w.content.pane.themeChanged());
      themes.themeChanged.connect(() => {
        redraw();
        // Theme CSS may land a frame after the signal.
        setTimeout(redraw, 300);
      });
    }

    void store.start();
  }
};

/** Live future, progress and client outputs become "no longer live" records when their kernel goes. */
const staleOutputsPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-futures:stale-outputs',
  description: 'Marks jupyter_futures outputs whose kernel restarted, stopped or is gone as no longer live',
  autoStart: true,
  requires: [INotebookTracker],
  activate: (_app: JupyterFrontEnd, notebooks: INotebookTracker) => watchStaleOutputs(notebooks)
};

export default [plugin, staleOutputsPlugin];
