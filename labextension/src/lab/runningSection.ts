/** The "jupyter_futures clusters" section of JupyterLab's Running panel. */
import type { IRunningSessionManagers, IRunningSessions } from '@jupyterlab/running';
import { Signal } from '@lumino/signaling';
import { formatBytes } from '../core/format';
import type { ClusterStore } from './clusterStore';
import { clusterIcon } from './icons';

/** Adds the section; `reveal` shows the sidebar at a cluster. */
export function addRunningSection(managers: IRunningSessionManagers, store: ClusterStore, reveal: (id: string) => void): void {
  const changed = new Signal<ClusterStore, void>(store);
  store.changed.connect(() => changed.emit());
  const manager: IRunningSessions.IManager = {
    name: 'jupyter_futures clusters',
    running: () =>
      store.clusters.map(c => ({
        className: 'jf-running-item',
        icon: () => clusterIcon,
        label: () => c.name || c.id,
        labelTitle: () => `${c.address} · made by ${c.made_by}`,
        detail: () => `${c.workers} workers · ${formatBytes(c.memory)}`,
        open: () => reveal(c.id),
        shutdown: () => {
          void store.api.stop(c.id).then(() => store.remove(c.id));
        }
      })),
    refreshRunning: () => void store.refresh(),
    runningChanged: changed,
    shutdownAll: () => {
      void Promise.all(store.clusters.map(c => store.api.stop(c.id).then(() => store.remove(c.id))));
    },
    shutdownLabel: 'Stop cluster',
    shutdownAllLabel: 'Stop all',
    shutdownAllConfirmationText: 'Stop all jupyter_futures clusters? Their workers stop and the results they hold are lost.'
  };
  managers.add(manager);
}
