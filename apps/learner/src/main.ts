import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { MAX_REASON_LENGTH, ModelManager, Topics, createMessage, trainingConfigOf } from '@flops/contracts';
import { loadConfig } from '@flops/config';
import { MqttBus } from '@flops/messaging';
import { RegistryClient } from '@flops/oci-registry';
import { bootstrapService, runService, setUpLogging } from '@flops/service-kit';
import { AppModule } from './app.module';
import { join, resolve } from 'node:path';
import { PYTHON_RUNTIME_DIR, loadModelManager, pullUserCode } from './code/user-code';
import { LearnerConfig } from './config';
import { DataPlaneClient } from './tasks/data-plane.client';
import { BrokenLearner, LearnerRole } from './tasks/learner-role';
import { TaskRunner } from './tasks/task-runner';

/** One learner: load the user's code from its image, then do the aggregator's tasks until told to stop. */
runService(async () => {
  const config = loadConfig(LearnerConfig);
  // Before the app exists: loading the user code logs too.
  setUpLogging({ format: config.FLOPS_LOG_FORMAT, level: config.FLOPS_LOG_LEVEL, projectId: config.FLOPS_PROJECT_ID });
  const logger = new Logger(`learner ${config.FLOPS_LEARNER_ID}`);
  const training = trainingConfigOf(config);
  const projectId = config.FLOPS_PROJECT_ID;
  const learnerId = config.FLOPS_LEARNER_ID;
  // If the learner dies, the broker tells the aggregator at once instead of it waiting for a timeout.
  const will = createMessage(Topics.learnerFailed, projectId, { learnerId, reason: 'lost the connection to the broker' });
  const bus = await MqttBus.connect({
    url: config.FLOPS_MQTT_URL,
    clientId: `flops-${projectId}-${learnerId}`,
    will: { topic: will.topic, payload: JSON.stringify(will.message) },
  });

  let finish: (reason: string) => void = () => undefined;
  const finished = new Promise<string>((resolve) => (finish = resolve));
  const failed = (taskId: string | undefined, reason: string): Promise<void> =>
    bus.publish(Topics.learnerFailed, projectId, { learnerId, ...(taskId ? { taskId } : {}), reason: reason.slice(0, MAX_REASON_LENGTH) });
  const timing = { joinRetryMs: config.FLOPS_LEARNER_JOIN_RETRY_MS, idleTimeoutMs: config.FLOPS_LEARNER_IDLE_TIMEOUT_SECONDS * 1000 };

  let manager: ModelManager | undefined;
  let role: LearnerRole;
  try {
    const codeDir = await pullUserCode(new RegistryClient({ url: config.FLOPS_REGISTRY_URL }), config.FLOPS_LEARNER_IMAGE, config.FLOPS_CACHE_DIR);
    // The local driver runs learners in the FLOps checkout: flops_utils and the venv tool are there.
    const root = process.cwd();
    manager = await loadModelManager(codeDir, {
      partition: { index: config.FLOPS_LEARNER_INDEX, count: training.learners },
      dataTags: training.dataTags,
      hyperparameters: training.hyperparameters,
      seed: training.seed,
      dataDir: config.FLOPS_NODE_DATA_DIR ? resolve(config.FLOPS_NODE_DATA_DIR) : undefined,
      python: {
        interpreter: config.FLOPS_LEARNER_PYTHON,
        runtimeDir: join(root, PYTHON_RUNTIME_DIR),
        env: { venvScript: join(root, 'tools/python-venv.sh'), runtimeRequirements: join(root, PYTHON_RUNTIME_DIR, 'requirements.txt'), cacheDir: resolve(config.FLOPS_CACHE_DIR) },
        taskTimeoutMs: config.FLOPS_LEARNER_TASK_TIMEOUT_SECONDS * 1000,
      },
    });
    role = new TaskRunner(
      learnerId,
      manager,
      new DataPlaneClient(learnerId),
      {
        join: () => bus.publish(Topics.learnerJoined, projectId, { learnerId, partitionIndex: config.FLOPS_LEARNER_INDEX }),
        evaluated: (taskId, round, numSamples, metrics) =>
          bus.publish(Topics.learnerEvaluated, projectId, { taskId, learnerId, round, numSamples, metrics }),
        failed,
        finished: (reason) => finish(reason),
      },
      timing,
    );
  } catch (error) {
    const reason = `could not load the user code: ${error instanceof Error ? error.message : String(error)}`;
    logger.error(reason);
    role = new BrokenLearner(reason, { failed: (why) => failed(undefined, why), finished: (why) => finish(why) }, timing.idleTimeoutMs);
  }

  const app = await bootstrapService({
    name: `learner ${learnerId}`,
    module: AppModule.with(projectId, role, bus),
    logLevel: config.FLOPS_LOG_LEVEL,
    logFormat: config.FLOPS_LOG_FORMAT,
    projectId: config.FLOPS_PROJECT_ID,
    httpPort: 0,
    mqtt: { url: config.FLOPS_MQTT_URL, clientId: `flops-${projectId}-${learnerId}-sub`, persistentSession: false },
  });
  logger.log(`ready: partition ${config.FLOPS_LEARNER_INDEX + 1}/${training.learners}, waiting for the aggregator`);
  logger.log(`finished: ${await finished}`);
  await manager?.dispose?.();
  await app.close();
  process.exit(manager ? 0 : 1);
});
