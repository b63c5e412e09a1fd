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

/** Something of a project that does not exist (yet): a component's log, the trained model. */
export class ProjectPartNotFoundError extends Error {}

/** The registry could not hand over what the project recorded there. */
export class RegistryUnavailableError extends Error {}
