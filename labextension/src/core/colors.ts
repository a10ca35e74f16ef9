/** Stable colours per task prefix (the same function gets the same colour everywhere). */

/** FNV-1a hash of a string, as an unsigned 32-bit integer. */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

// Well separated hues, none red (red means error) nor magenta (search matches); [hue, saturation].
const PALETTE: [number, number][] = [
  [210, 65], [30, 85], [130, 50], [265, 45], [180, 55], [50, 80], [100, 45], [230, 50],
  [190, 35], [160, 45], [280, 35], [195, 70], [70, 55], [245, 40], [145, 35], [40, 60]
];

/** The colour of a task prefix (or file): one of 16 distinct hues by hash, the same everywhere. */
export function prefixColor(prefix: string, dark = false): string {
  const h = hashString(prefix);
  const [hue, sat] = PALETTE[h % PALETTE.length];
  const light = (h >>> 8) % 2 === 0 ? 0 : 8;
  return dark ? `hsl(${hue}, ${sat}%, ${45 + light}%)` : `hsl(${hue}, ${sat}%, ${55 + light}%)`;
}

export const MATCH_COLOR = 'hsl(300, 90%, 55%)';

export const ERROR_COLOR = 'hsl(0, 80%, 50%)';
export const TRANSFER_COLOR = 'hsl(0, 0%, 55%)';
