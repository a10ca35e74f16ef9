/**
 * Flame graph layout from a profile call tree (docs/jupyter-api.md: "profile"): children
 * sorted, widths proportional to counts, zoom into a frame, search by function name.
 */
import type { CallTree } from './types';

export type SortOrder = 'count' | 'name';

/** A frame of the flame graph; x and width are fractions of the root (or of the zoomed frame). */
export interface FlameNode {
  id: string;
  /** Path of identifiers from the root, joined by '/'; unique per node. */
  path: string;
  name: string;
  filename: string;
  line_number: number;
  line: string;
  count: number;
  depth: number;
  children: FlameNode[];
  parent: FlameNode | null;
}

/** A placed rectangle to draw. */
export interface FlameRect {
  node: FlameNode;
  x: number;
  width: number;
  depth: number;
  /** An ancestor of the zoomed frame, drawn full width. */
  ancestor: boolean;
  match: boolean;
}

/** Builds the tree of FlameNodes, children sorted by count (descending) or by name. */
export function buildFlameTree(tree: CallTree, order: SortOrder = 'count'): FlameNode {
  const make = (t: CallTree, depth: number, parent: FlameNode | null, path: string): FlameNode => {
    const d = t.description ?? ({} as CallTree['description']);
    const node: FlameNode = {
      id: t.identifier ?? '',
      path,
      name: d.name ?? t.identifier ?? '?',
      filename: d.filename ?? '',
      line_number: d.line_number ?? 0,
      line: d.line ?? '',
      count: t.count ?? 0,
      depth,
      children: [],
      parent
    };
    const kids = Object.entries(t.children ?? {});
    node.children = kids.map(([id, child]) => make(child, depth + 1, node, path + '/' + id));
    node.children.sort(order === 'count' ? byCount : byName);
    return node;
  };
  return make(tree, 0, null, tree.identifier ?? 'root');
}

function byCount(a: FlameNode, b: FlameNode): number {
  return b.count - a.count || a.name.localeCompare(b.name) || a.path.localeCompare(b.path);
}

function byName(a: FlameNode, b: FlameNode): number {
  return a.name.localeCompare(b.name) || a.filename.localeCompare(b.filename) || b.count - a.count;
}

/** True when a frame's function name contains the query (case-insensitive); no query: no match. */
export function matches(node: FlameNode, query: string): boolean {
  const q = query.trim().toLowerCase();
  return q !== '' && node.name.toLowerCase().includes(q);
}

/**
 * The rectangles to draw with `focus` zoomed to full width: its ancestors full width above it,
 * its subtree scaled so that focus.count is the full width. Frames narrower than minWidth
 * (a fraction) are left out, with their children.
 */
export function layoutFlame(focus: FlameNode, query = '', minWidth = 0): FlameRect[] {
  const rects: FlameRect[] = [];
  for (let a = focus.parent; a; a = a.parent) {
    rects.push({ node: a, x: 0, width: 1, depth: a.depth, ancestor: true, match: matches(a, query) });
  }
  const total = focus.count || 1;
  const place = (node: FlameNode, x: number) => {
    const width = node.count / total;
    if (width < minWidth) {
      return;
    }
    rects.push({ node, x, width, depth: node.depth, ancestor: false, match: matches(node, query) });
    let cx = x;
    for (const child of node.children) {
      place(child, cx);
      cx += child.count / total;
    }
  };
  place(focus, 0);
  return rects;
}

/**
 * The share of samples whose stack passes through a matching frame, relative to `within`:
 * counts of matching frames, not counting matches nested inside another match.
 */
export function matchedFraction(within: FlameNode, query: string): number {
  if (!within.count || !query.trim()) {
    return 0;
  }
  const sum = (node: FlameNode): number =>
    matches(node, query) ? node.count : node.children.reduce((s, c) => s + sum(c), 0);
  return Math.min(1, sum(within) / within.count);
}

/** Finds a node by its path (to keep the zoom across a refresh); null when it is not there. */
export function findByPath(root: FlameNode, path: string): FlameNode | null {
  if (root.path === path) {
    return root;
  }
  for (const c of root.children) {
    if (path === c.path || path.startsWith(c.path + '/')) {
      return findByPath(c, path);
    }
  }
  return null;
}

/** Depth of the deepest frame below a node (0 for a leaf). */
export function maxDepth(node: FlameNode): number {
  return node.children.reduce((m, c) => Math.max(m, 1 + maxDepth(c)), 0);
}

/** Escapes text for XML/HTML (for the exported files, never for the live DOM). */
export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, ch => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[ch]!);
}

export interface SvgOptions {
  width?: number;
  rowHeight?: number;
  colorOf: (node: FlameNode) => string;
  textColor?: string;
  background?: string;
  title?: string;
}

/** The flame graph of `focus` as a standalone SVG document (text escaped, tooltips as <title>). */
export function flameToSvg(focus: FlameNode, query: string, opts: SvgOptions): string {
  const width = opts.width ?? 1200;
  const rowHeight = opts.rowHeight ?? 18;
  const rects = layoutFlame(focus, query, 0.5 / width);
  const depth = rects.reduce((m, r) => Math.max(m, r.depth), 0) + 1;
  const top = opts.title ? 24 : 0;
  const height = top + depth * rowHeight;
  const total = focus.count || 1;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" ` +
      `viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="${escapeXml(opts.background ?? '#ffffff')}"/>`
  ];
  if (opts.title) {
    parts.push(`<text x="4" y="16" font-size="13" fill="${escapeXml(opts.textColor ?? '#000')}">${escapeXml(opts.title)}</text>`);
  }
  for (const r of rects) {
    const x = r.x * width;
    const w = Math.max(0.5, r.width * width);
    const y = top + r.depth * rowHeight;
    const label = `${r.node.name} (${r.node.filename}:${r.node.line_number}) ${r.node.count} samples, ${(
      (100 * r.node.count) / total
    ).toFixed(1)}%`;
    const fill = r.match ? 'hsl(300, 90%, 55%)' : opts.colorOf(r.node);
    parts.push(
      `<g><title>${escapeXml(label)}</title><rect x="${x.toFixed(2)}" y="${y}" width="${w.toFixed(2)}" ` +
        `height="${rowHeight - 1}" fill="${escapeXml(fill)}" opacity="${r.ancestor ? 0.6 : 1}"/>`
    );
    const chars = Math.floor((w - 6) / 6.5);
    if (chars >= 3) {
      const text = r.node.name.length > chars ? r.node.name.slice(0, chars - 1) + '…' : r.node.name;
      parts.push(`<text x="${(x + 3).toFixed(2)}" y="${y + rowHeight - 5}" fill="#000">${escapeXml(text)}</text>`);
    }
    parts.push('</g>');
  }
  parts.push('</svg>');
  return parts.join('\n');
}

/** A self-contained HTML page showing the SVG (no scripts, no network). */
export function flameToHtml(svg: string, title: string): string {
  return (
    '<!doctype html><html><head><meta charset="utf-8"><title>' +
    escapeXml(title) +
    '</title><style>body{margin:0;font-family:sans-serif}h1{font-size:16px;margin:8px}' +
    'svg{display:block;width:100%;height:auto}</style></head><body><h1>' +
    escapeXml(title) +
    '</h1>' +
    svg.replace(/^<\?xml[^>]*>/, '') +
    '</body></html>'
  );
}
