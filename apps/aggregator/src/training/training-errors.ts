import { DATA_PLANE_ERRORS, DataPlaneErrorCode } from '@flops/contracts';

/** Why an upload or download is refused; the data plane answers with the code's HTTP status. */
export class UpdateRejectedError extends Error {
  readonly status: number;

  constructor(
    readonly code: DataPlaneErrorCode,
    message: string,
  ) {
    super(message);
    this.status = DATA_PLANE_ERRORS[code];
  }
}

/** Training cannot continue; reported as training/failed. */
export class TrainingFailedError extends Error {}
