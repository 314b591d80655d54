/**
 * Node-only: per-phase progress for `mnv2 train` on stderr. A TTY gets a cli-progress
 * bar (ETA, loss, running accuracy); anything else (pipes, CI logs, tests) gets one
 * plain line when a phase ends, so logs stay readable.
 */
import cliProgress from 'cli-progress';
import type { CliIO } from './io.js';

export interface Progress {
  start(label: string, total: number): void;
  update(done: number, values?: { loss?: number; acc?: number }): void;
  /** Ends the phase; `summary` is appended to the plain line. */
  stop(summary?: string): void;
}

function fmtSeconds(s: number): string {
  return s >= 60 ? `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s` : `${s.toFixed(1)}s`;
}

/** Plain lines: `label: done/total in 1.2s  summary`. */
export function plainProgress(io: CliIO): Progress {
  let label = '';
  let total = 0;
  let done = 0;
  let t0 = 0;
  return {
    start(l, n) {
      label = l;
      total = n;
      done = 0;
      t0 = performance.now();
    },
    update(d) {
      done = d;
    },
    stop(summary) {
      io.stderr.write(`${label}: ${done}/${total} in ${fmtSeconds((performance.now() - t0) / 1000)}${summary ? `  ${summary}` : ''}\n`);
    },
  };
}

/** A cli-progress bar on a TTY stream. */
export function barProgress(stream: NodeJS.WriteStream): Progress {
  let bar: cliProgress.SingleBar | null = null;
  let label = '';
  return {
    start(l, total) {
      label = l;
      bar = new cliProgress.SingleBar(
        {
          stream,
          format: '{label} [{bar}] {value}/{total} | ETA {eta_formatted} | loss {loss} | acc {acc}',
          hideCursor: true,
          clearOnComplete: false,
          etaBuffer: 20,
        },
        cliProgress.Presets.shades_classic,
      );
      bar.start(total, 0, { label, loss: '-', acc: '-' });
    },
    update(done, v = {}) {
      bar?.update(done, {
        ...(v.loss !== undefined ? { loss: v.loss.toFixed(4) } : {}),
        ...(v.acc !== undefined ? { acc: v.acc.toFixed(3) } : {}),
      });
    },
    stop(summary) {
      bar?.stop();
      bar = null;
      if (summary) stream.write(`${label}: ${summary}\n`);
    },
  };
}

/** A bar when `io.stderr` is an interactive terminal, plain lines otherwise. */
export function createProgress(io: CliIO): Progress {
  const s = io.stderr as Partial<NodeJS.WriteStream>;
  if (s.isTTY && typeof s.columns === 'number') return barProgress(s as NodeJS.WriteStream);
  return plainProgress(io);
}
