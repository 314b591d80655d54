/** Hand-written SVG plots (runtime-safe, no dependencies): training curves and a confusion matrix. */
import type { EpochMetrics } from './metrics.js';

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const fmt = (v: number) => (Math.round(v * 100) / 100).toString();

interface Series {
  name: string;
  color: string;
  values: Array<number | null>;
}

function chart(x0: number, y0: number, w: number, h: number, title: string, epochs: number[], series: Series[], yMax?: number): string {
  const all = series.flatMap((s) => s.values.filter((v): v is number => v !== null && Number.isFinite(v)));
  const top = yMax ?? Math.max(1e-9, ...all) * 1.05;
  const first = epochs[0] ?? 1;
  const last = epochs[epochs.length - 1] ?? 1;
  const px = (e: number) => x0 + (last === first ? w / 2 : ((e - first) / (last - first)) * w);
  const py = (v: number) => y0 + h - (Math.min(v, top) / top) * h;
  const out: string[] = [];
  out.push(`<text x="${x0 + w / 2}" y="${y0 - 10}" text-anchor="middle" font-weight="bold">${esc(title)}</text>`);
  out.push(`<rect x="${x0}" y="${y0}" width="${w}" height="${h}" fill="none" stroke="#888"/>`);
  for (let k = 0; k <= 4; k++) {
    const v = (top * k) / 4;
    out.push(`<line x1="${x0}" x2="${x0 + w}" y1="${fmt(py(v))}" y2="${fmt(py(v))}" stroke="#eee"/>`);
    out.push(`<text x="${x0 - 6}" y="${fmt(py(v) + 4)}" text-anchor="end" font-size="11">${v.toPrecision(3)}</text>`);
  }
  out.push(`<text x="${x0}" y="${y0 + h + 16}" font-size="11">epoch ${first}</text>`);
  out.push(`<text x="${x0 + w}" y="${y0 + h + 16}" font-size="11" text-anchor="end">${last}</text>`);
  series.forEach((s, si) => {
    const pts = epochs.map((e, i) => [e, s.values[i]] as const).filter((p): p is readonly [number, number] => p[1] !== null && Number.isFinite(p[1]));
    if (pts.length) {
      out.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2" points="${pts.map(([e, v]) => `${fmt(px(e))},${fmt(py(v))}`).join(' ')}"/>`);
      for (const [e, v] of pts) out.push(`<circle cx="${fmt(px(e))}" cy="${fmt(py(v))}" r="2" fill="${s.color}"/>`);
    }
    out.push(`<text x="${x0 + 8}" y="${y0 + 16 + si * 14}" font-size="11" fill="${s.color}">${esc(s.name)}</text>`);
  });
  return out.join('\n');
}

/** Loss (left) and accuracy (right) per epoch, train and val. */
export function trainingCurvesSvg(history: readonly EpochMetrics[]): string {
  const epochs = history.map((m) => m.epoch);
  const W = 860;
  const H = 340;
  const body = [
    chart(60, 40, 340, 250, 'loss', epochs, [
      { name: 'train', color: '#1f77b4', values: history.map((m) => m.train_loss) },
      { name: 'val', color: '#d62728', values: history.map((m) => m.val_loss) },
    ]),
    chart(480, 40, 340, 250, 'accuracy', epochs, [
      { name: 'train', color: '#1f77b4', values: history.map((m) => m.train_acc) },
      { name: 'val', color: '#d62728', values: history.map((m) => m.val_acc) },
    ], 1),
  ];
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif">\n<rect width="100%" height="100%" fill="white"/>\n${body.join('\n')}\n</svg>\n`;
}

/** Rows: true class, columns: predicted; cell shade by row-normalized count. */
export function confusionMatrixSvg(matrix: readonly (readonly number[])[], classes: readonly string[], title = 'confusion matrix (rows: true, columns: predicted)'): string {
  const C = matrix.length;
  const cell = Math.max(24, Math.min(60, Math.floor(480 / Math.max(1, C))));
  const label = 8 + 7 * Math.max(4, ...classes.map((c) => Math.min(c.length, 24)));
  const x0 = label + 10;
  const y0 = 50;
  const W = x0 + C * cell + 20;
  const H = y0 + C * cell + label + 10;
  const out: string[] = [];
  out.push(`<text x="${W / 2}" y="24" text-anchor="middle" font-weight="bold">${esc(title)}</text>`);
  for (let r = 0; r < C; r++) {
    const rowSum = matrix[r].reduce((a, b) => a + b, 0) || 1;
    for (let c = 0; c < C; c++) {
      const v = matrix[r][c];
      const t = v / rowSum;
      const shade = Math.round(255 - 200 * t);
      const fill = r === c ? `rgb(${shade},${Math.min(255, shade + 40)},${shade})` : `rgb(255,${shade},${shade})`;
      const x = x0 + c * cell;
      const y = y0 + r * cell;
      out.push(`<rect x="${x}" y="${y}" width="${cell}" height="${cell}" fill="${fill}" stroke="#999"/>`);
      out.push(`<text x="${x + cell / 2}" y="${y + cell / 2 + 4}" text-anchor="middle" font-size="12">${v}</text>`);
    }
    out.push(`<text x="${x0 - 6}" y="${y0 + r * cell + cell / 2 + 4}" text-anchor="end" font-size="12">${esc(classes[r] ?? String(r))}</text>`);
  }
  for (let c = 0; c < C; c++) {
    const x = x0 + c * cell + cell / 2;
    const y = y0 + C * cell + 8;
    out.push(`<text x="${x}" y="${y}" font-size="12" transform="rotate(60 ${x} ${y})">${esc(classes[c] ?? String(c))}</text>`);
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif">\n<rect width="100%" height="100%" fill="white"/>\n${out.join('\n')}\n</svg>\n`;
}
