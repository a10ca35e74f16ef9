import { describe, expect, it } from 'vitest';
import {
  buildFlameTree,
  findByPath,
  flameToHtml,
  flameToSvg,
  layoutFlame,
  matchedFraction,
  maxDepth
} from '../src/core/flame';
import type { CallTree } from '../src/core/types';

const frame = (name: string, count: number, children: CallTree[] = []): CallTree => ({
  description: { filename: `${name}.py`, line_number: 1, name, line: `${name}()` },
  identifier: `${name};${name}.py;1`,
  count,
  children: Object.fromEntries(children.map(c => [c.identifier, c]))
});

const tree = frame('root', 100, [
  frame('alpha', 30, [frame('inner', 20)]),
  frame('zeta', 60, [frame('inner', 50, [frame('leaf', 10)])]),
  frame('<lambda>', 10)
]);

describe('flame graph', () => {
  it('sorts children by count, or by name', () => {
    expect(buildFlameTree(tree, 'count').children.map(c => c.name)).toEqual(['zeta', 'alpha', '<lambda>']);
    expect(buildFlameTree(tree, 'name').children.map(c => c.name)).toEqual(['<lambda>', 'alpha', 'zeta']);
  });

  it('gives widths proportional to counts, children placed side by side', () => {
    const root = buildFlameTree(tree);
    const rects = layoutFlame(root);
    const byName = (n: string) => rects.filter(r => r.node.name === n);
    expect(byName('root')[0]).toMatchObject({ x: 0, width: 1, depth: 0 });
    expect(byName('zeta')[0]).toMatchObject({ x: 0, width: 0.6 });
    expect(byName('alpha')[0].x).toBeCloseTo(0.6);
    expect(byName('alpha')[0].width).toBeCloseTo(0.3);
    expect(byName('<lambda>')[0].x).toBeCloseTo(0.9);
    expect(byName('inner').map(r => r.width)).toEqual([0.5, 0.2]);
    expect(maxDepth(root)).toBe(3);
  });

  it('zooms into a frame: it takes the full width, ancestors drawn above', () => {
    const root = buildFlameTree(tree);
    const zeta = root.children[0];
    const rects = layoutFlame(zeta);
    expect(rects.find(r => r.node === zeta)).toMatchObject({ x: 0, width: 1, ancestor: false });
    expect(rects.find(r => r.node === root)).toMatchObject({ ancestor: true, width: 1 });
    const inner = rects.find(r => r.node.name === 'inner')!;
    expect(inner.width).toBeCloseTo(50 / 60);
    expect(rects.some(r => r.node.name === 'alpha')).toBe(false);
    expect(findByPath(root, zeta.children[0].path)).toBe(zeta.children[0]);
    expect(findByPath(root, 'nope')).toBeNull();
  });

  it('searches by function name and reports the share matched, nested matches counted once', () => {
    const root = buildFlameTree(tree);
    expect(matchedFraction(root, 'INNER')).toBeCloseTo(0.7);
    expect(matchedFraction(root, 'a')).toBeCloseTo(1.0); // alpha + zeta + <lambda>, root not named "a"
    expect(matchedFraction(root, 'leaf')).toBeCloseTo(0.1);
    expect(matchedFraction(root, '')).toBe(0);
    expect(layoutFlame(root, 'leaf').filter(r => r.match).map(r => r.node.name)).toEqual(['leaf']);
  });

  it('leaves out frames narrower than the minimum width', () => {
    const root = buildFlameTree(tree);
    expect(layoutFlame(root, '', 0.15).map(r => r.node.name)).toEqual(['root', 'zeta', 'inner', 'alpha', 'inner']);
  });

  it('exports escaped SVG and self-contained HTML', () => {
    const root = buildFlameTree(frame('root', 2, [frame('<script>alert(1)</script>', 2)]));
    const svg = flameToSvg(root, '', { colorOf: () => '#fa0', title: 'profile & more' });
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).not.toContain('<script>');
    expect(svg).toContain('&lt;script&gt;');
    expect(svg).toContain('profile &amp; more');
    const html = flameToHtml(svg, 'a <b>');
    expect(html).toContain('<title>a &lt;b&gt;</title>');
    expect(html).not.toMatch(/<script/i);
  });
});
