/** The active notebook, as the futures pane and the sidebar need it (via INotebookTracker). */
import type { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { NotebookActions } from '@jupyterlab/notebook';
import type { JupyterFrontEnd } from '@jupyterlab/application';
import type { Disposer } from '../core/feed';
import type { NotebookBridge } from '../panes/futuresPane';

/** A NotebookBridge on the tracker's current notebook. */
export function trackerBridge(app: JupyterFrontEnd, tracker: INotebookTracker | null): NotebookBridge {
  const current = (): NotebookPanel | null => tracker?.currentWidget ?? null;
  return {
    kernelId: () => current()?.sessionContext.session?.kernel?.id ?? null,
    notebookName: () => current()?.context.path ?? null,
    onChange(cb: () => void): Disposer {
      if (!tracker) {
        return { dispose: () => {} };
      }
      let watched: NotebookPanel | null = null;
      const onKernel = () => cb();
      const follow = () => {
        watched?.sessionContext.kernelChanged.disconnect(onKernel);
        watched?.sessionContext.statusChanged.disconnect(onKernel);
        watched = current();
        watched?.sessionContext.kernelChanged.connect(onKernel);
        watched?.sessionContext.statusChanged.connect(onKernel);
        cb();
      };
      tracker.currentChanged.connect(follow);
      follow();
      return {
        dispose: () => {
          tracker.currentChanged.disconnect(follow);
          watched?.sessionContext.kernelChanged.disconnect(onKernel);
          watched?.sessionContext.statusChanged.disconnect(onKernel);
        }
      };
    },
    jumpToCell(cellId: string): boolean {
      const panel = current();
      if (!panel) {
        return false;
      }
      const nb = panel.content;
      const index = nb.widgets.findIndex(c => c.model.id === cellId);
      if (index < 0) {
        return false;
      }
      app.shell.activateById(panel.id);
      nb.activeCellIndex = index;
      nb.deselectAll();
      void nb.scrollToItem(index, 'center');
      nb.widgets[index].addClass('jf-flash');
      setTimeout(() => nb.widgets[index]?.removeClass('jf-flash'), 1500);
      return true;
    },
    async execute(code: string): Promise<void> {
      const kernel = current()?.sessionContext.session?.kernel;
      if (!kernel) {
        throw new Error('the notebook has no running kernel');
      }
      const reply = await kernel.requestExecute({ code, silent: true, store_history: false }).done;
      const content = reply.content as any;
      if (content.status === 'error') {
        throw new Error(`${content.ename}: ${content.evalue}`);
      }
    }
  };
}

/** Inserts a code cell connecting the active notebook to the address; returns an error message or null. */
export function insertConnectCell(tracker: INotebookTracker | null, address: string): string | null {
  const panel = tracker?.currentWidget;
  if (!panel) {
    return 'Open a notebook first: the cell goes into the active notebook.';
  }
  const nb = panel.content;
  if (!nb.model) {
    return 'The notebook is still loading; try again in a moment.';
  }
  NotebookActions.insertBelow(nb);
  const cell = nb.activeCell;
  if (!cell) {
    return 'Could not insert a cell into the notebook.';
  }
  cell.model.sharedModel.setSource(`from jupyter_futures import Client\nclient = Client(${JSON.stringify(address)})`);
  return null;
}
