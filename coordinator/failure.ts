/** How the coordinator names a worker that failed the run: where it ran, and the error that says so. */

/** Where a worker runs, for error messages. */
export interface WorkerInfo {
  rank: number;
  host: string;
  pid: number;
}

/** A failure that ends the run, naming the worker (its rank) when one caused it (null: the coordinator itself). */
export class WorkerFailure extends Error {
  constructor(
    message: string,
    readonly rank: number | null,
  ) {
    super(message);
  }
}
