import { LearnerEnvironment } from '@flops/contracts';

/** The environment the orchestrator gives a learner (@flops/contracts); the learner has no settings of its own. */
export class LearnerConfig extends LearnerEnvironment {}
