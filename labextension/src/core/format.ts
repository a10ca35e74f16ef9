/** Human formats of sizes, durations and times. */

/** Bytes as "1.2 GB" (decimal units, like the Python side). */
export function formatBytes(n: number | null | undefined): string {
  if (n === null || n === undefined || !isFinite(n)) {
    return '–';
  }
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];
  let i = 0;
  let v = Math.abs(n);
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  const digits = i === 0 || v >= 100 ? 0 : v >= 10 ? 1 : 2;
  return `${n < 0 ? '-' : ''}${v.toFixed(digits)} ${units[i]}`;
}

/** Seconds as "850 ms", "12.3 s", "4 min 5 s". */
export function formatDuration(s: number): string {
  if (s < 1) {
    return `${Math.round(s * 1000)} ms`;
  }
  if (s < 60) {
    return `${s.toFixed(s < 10 ? 2 : 1)} s`;
  }
  const m = Math.floor(s / 60);
  return `${m} min ${Math.round(s - m * 60)} s`;
}

/** Epoch seconds as a local clock time "14:03:07.250". */
export function formatClock(t: number): string {
  const d = new Date(t * 1000);
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

/** A percentage with one decimal, "42.0%". */
export function formatPercent(fraction: number): string {
  return `${(100 * (isFinite(fraction) ? fraction : 0)).toFixed(1)}%`;
}
