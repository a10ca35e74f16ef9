/** Colours for canvas drawing, read from the JupyterLab CSS variables of the page. */

export interface Palette {
  font: string;
  fontColor: string;
  fontColor2: string;
  background: string;
  background2: string;
  border: string;
  brand: string;
  error: string;
  warn: string;
  success: string;
  dark: boolean;
}

/** Reads a CSS variable on an element, or the fallback when it is not set. */
export function cssVar(el: Element, name: string, fallback: string): string {
  const v = getComputedStyle(el).getPropertyValue(name).trim();
  return v || fallback;
}

/** The palette of the current theme, as seen from an element. */
export function readPalette(el: Element): Palette {
  const background = cssVar(el, '--jp-layout-color1', '#ffffff');
  return {
    font: `${cssVar(el, '--jp-ui-font-size0', '11px')} ${cssVar(el, '--jp-ui-font-family', 'sans-serif')}`,
    fontColor: cssVar(el, '--jp-ui-font-color1', '#222'),
    fontColor2: cssVar(el, '--jp-ui-font-color2', '#666'),
    background,
    background2: cssVar(el, '--jp-layout-color2', '#eee'),
    border: cssVar(el, '--jp-border-color1', '#bbb'),
    brand: cssVar(el, '--jp-brand-color1', '#1976d2'),
    error: cssVar(el, '--jp-error-color1', '#d32f2f'),
    warn: cssVar(el, '--jp-warn-color1', '#f57c00'),
    success: cssVar(el, '--jp-success-color1', '#388e3c'),
    dark: isDark(background)
  };
}

/** True for a dark colour (rgb/hex/named via a canvas round trip). */
export function isDark(color: string): boolean {
  const rgb = parseColor(color);
  if (!rgb) {
    return false;
  }
  const [r, g, b] = rgb;
  return 0.299 * r + 0.587 * g + 0.114 * b < 128;
}

function parseColor(color: string): [number, number, number] | null {
  const c = color.trim();
  let m = /^#([0-9a-f]{3})$/i.exec(c);
  if (m) {
    return [0, 1, 2].map(i => parseInt(m![1][i] + m![1][i], 16)) as [number, number, number];
  }
  m = /^#([0-9a-f]{6})/i.exec(c);
  if (m) {
    return [0, 2, 4].map(i => parseInt(m![1].slice(i, i + 2), 16)) as [number, number, number];
  }
  m = /^rgba?\(\s*([\d.]+)[,\s]+([\d.]+)[,\s]+([\d.]+)/i.exec(c);
  if (m) {
    return [Number(m[1]), Number(m[2]), Number(m[3])];
  }
  if (typeof document !== 'undefined') {
    const ctx = document.createElement('canvas').getContext('2d');
    if (ctx) {
      ctx.fillStyle = '#000';
      ctx.fillStyle = c;
      const v = String(ctx.fillStyle);
      if (v.startsWith('#') && v !== c) {
        return parseColor(v);
      }
    }
  }
  return null;
}

/** Sizes a canvas to its CSS box at the device pixel ratio; returns its context and CSS size. */
export function fitCanvas(canvas: HTMLCanvasElement): { ctx: CanvasRenderingContext2D; width: number; height: number } | null {
  const ctx = canvas.getContext('2d');
  if (!ctx) {
    return null;
  }
  const rect = canvas.getBoundingClientRect();
  const width = Math.max(1, Math.floor(rect.width));
  const height = Math.max(1, Math.floor(rect.height));
  const ratio = window.devicePixelRatio || 1;
  if (canvas.width !== Math.round(width * ratio) || canvas.height !== Math.round(height * ratio)) {
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
  }
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  return { ctx, width, height };
}
