/** A dashboard pane inside JupyterLab: a Lumino widget around the pure-DOM pane, in a MainAreaWidget. */
import { MainAreaWidget } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';
import type { Message } from '@lumino/messaging';
import { Pane, PANE_TITLES, type PaneKind } from '../panes/pane';
import { clusterIcon } from './icons';

/** Starts the pane when attached and tells it about resizes. */
export class PaneWidget extends Widget {
  constructor(
    readonly pane: Pane,
    readonly clusterId: string,
    readonly clusterName: string
  ) {
    super();
    this.addClass('jf-pane-widget');
    this.node.append(pane.node);
  }

  get kind(): PaneKind {
    return this.pane.kind;
  }

  protected onAfterAttach(msg: Message): void {
    super.onAfterAttach(msg);
    this.pane.start();
  }

  protected onResize(msg: Widget.ResizeMessage): void {
    super.onResize(msg);
    this.pane.resized();
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    this.pane.resized();
  }

  dispose(): void {
    if (!this.isDisposed) {
      this.pane.dispose();
    }
    super.dispose();
  }
}

/** The main-area id of a pane: one pane per (cluster, kind). */
export function paneId(clusterId: string, kind: PaneKind): string {
  return `jupyter-futures-${kind}-${clusterId}`;
}

/** Wraps a pane for the main area, titled "<pane> · <cluster>". */
export function makeMainAreaWidget(content: PaneWidget): MainAreaWidget<PaneWidget> {
  const widget = new MainAreaWidget({ content });
  widget.id = paneId(content.clusterId, content.kind);
  widget.title.label = `${PANE_TITLES[content.kind]} · ${content.clusterName}`;
  widget.title.caption = `jupyter_futures ${PANE_TITLES[content.kind]} of ${content.clusterName} (${content.clusterId})`;
  widget.title.icon = clusterIcon;
  widget.title.closable = true;
  widget.addClass('jf-main-area');
  return widget;
}
