/** Why an upload is refused; the data plane maps each to an HTTP status. */
export class UpdateRejectedError extends Error {
  constructor(
    readonly status: 400 | 409 | 410,
    message: string,
  ) {
    super(message);
  }
}

/** Training cannot continue; reported as training/failed. */
export class TrainingFailedError extends Error {}
