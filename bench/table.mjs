// Plain-text rendering of a results object (see run.mjs for its shape).

const fmt = (v, digits = 1) => (v === null || v === undefined ? '-' : Number.isFinite(v) ? v.toFixed(digits) : String(v));

function pad(rows) {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) => r.map((s, c) => (c === 0 ? s.padEnd(widths[c]) : s.padStart(widths[c]))).join('  ')).join('\n');
}

export function renderTable(results, cells) {
  const sections = ['infer_b1_224', 'infer_b8_224', 'train_b8_224', 'train_frozen_b8_224'];
  const rows = [['ms per batch (median)', ...cells]];
  for (const s of sections) {
    const cell = (c) => (!(c in results[s]) ? '' : results[s][c] === null ? 'n/a' : fmt(results[s][c]));
    rows.push([s, ...cells.map(cell)]);
  }
  const out = [pad(rows)];

  const notes = Object.entries(results.notes).flatMap(([s, byCell]) => Object.entries(byCell).map(([c, t]) => `  ${s} ${c}: ${t}`));
  if (notes.length) out.push('', 'n/a cells:', ...notes);

  const agree = Object.entries(results.agreement).map(([c, d]) => `${c} ${d.toExponential(1)}`);
  if (agree.length) out.push('', `max |logits - wasm logits| at batch 1: ${agree.join(', ')}`);

  const ratioLines = Object.entries(results.ratios).flatMap(([s, r]) =>
    Object.keys(r).length ? [`  ${s}: ${Object.entries(r).map(([k, v]) => `${k} ${fmt(v, 2)}`).join(', ')}`] : [],
  );
  if (ratioLines.length) out.push('', 'ratios (ours / peer, below 1 = ours faster):', ...ratioLines);

  const tvi = Object.entries(results.train_vs_infer_b8 ?? {}).filter(([, r]) => r);
  if (tvi.length) {
    out.push('', 'training step / own inference at batch 8 (alternating rounds):',
      ...tvi.map(([c, r]) => `  ${c}: ${fmt(r.ratio, 2)} (train ${fmt(r.train_ms)} ms, inference ${fmt(r.infer_ms)} ms, ${r.rounds} rounds)`));
  }

  const simd128 = results.kernels_simd128 ?? {};
  const k = [['kernel (GFLOP/s)', 'shape', `GFLOP/s (${results.meta.wasm_kernels?.wasm ?? 'wasm'})`, 'GFLOP/s (simd128)']];
  for (const [group, byShape] of Object.entries(results.kernels)) {
    for (const [shape, g] of Object.entries(byShape)) k.push([group, shape, fmt(g, 2), fmt(simd128[group]?.[shape], 2)]);
  }
  if (k.length > 1) out.push('', pad(k));
  const m = results.meta;
  out.push('', `${m.cpu}, ${m.cores} cores, node ${m.node}, commit ${m.commit}, load ${m.loadavg_start.map((l) => l.toFixed(2)).join(' ')} -> ${(m.loadavg_end ?? []).map((l) => l.toFixed(2)).join(' ')}`);
  return out.join('\n');
}
