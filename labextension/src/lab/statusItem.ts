/** The status-bar item: workers, running tasks and memory of the selected (or first) cluster. */
import { Widget } from '@lumino/widgets';
import { formatBytes } from '../core/format';
import type { ClusterStore } from './clusterStore';

/** The status-bar widget; clicking it shows the sidebar. */
export class ClusterStatusItem extends Widget {
  constructor(
    private store: ClusterStore,
    onClick: () => void
  ) {
    super();
    this.addClass('jf-status-item');
    this.node.title = 'jupyter_futures: click to show the clusters';
    this.node.addEventListener('click', onClick);
    store.changed.connect(this.update, this);
    this.update();
  }

  update(): void {
    const c = this.store.current();
    this.node.textContent = c
      ? `${c.name}: ${c.workers} ${c.workers === 1 ? 'worker' : 'workers'} · ${c.tasks?.processing ?? 0} running · ${formatBytes(c.memory)}`
      : '';
    this.node.dataset.cluster = c?.id ?? '';
  }
}
