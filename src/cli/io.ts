/** Where the CLI writes; process.stdout/stderr fit, and tests pass collectors. */
export interface CliIO {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
}

export const processIO: CliIO = { stdout: process.stdout, stderr: process.stderr };

/** Thrown for a failure already explained to the user; carries the exit code. */
export class CliExit extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}
