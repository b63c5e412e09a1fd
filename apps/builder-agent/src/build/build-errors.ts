import type { BuildPhase } from '@flops/contracts';

/** A build that cannot succeed, with the phase it failed in and a reason a user can act on. */
export class BuildError extends Error {
  constructor(
    readonly phase: BuildPhase,
    message: string,
  ) {
    super(message);
    this.name = 'BuildError';
  }
}
