/** Domain errors of the projects API; ProjectErrorsFilter maps them to HTTP. */
export class ProjectNotFoundError extends Error {
  constructor(readonly projectId: string) {
    super(`project ${projectId} does not exist`);
  }
}

export class ProjectAlreadyEndedError extends Error {
  constructor(
    readonly projectId: string,
    readonly state: string,
  ) {
    super(`project ${projectId} has already ended (${state})`);
  }
}

export class InvalidProjectError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('; '));
  }
}
