import { Injectable, Logger } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { IDENTIFIER, Topics, TrainingConfig, checkTrainingConfig, repoSlug } from '@flops/contracts';
import { ProjectState, isTerminal } from '@flops/lifecycle';
import { MqttBus } from '@flops/messaging';
import { DeploymentStore, ModelRecord, ProjectStore, TrackingStore } from '@flops/models';
import { RegistryClient, parseImageReference } from '@flops/oci-registry';
import { TENSORS_MEDIA_TYPE } from '@flops/tensor-codec';
import { ProjectLogs } from '../logs/project-logs';
import { CancelProjectDto, CreateProjectDto, LOG_CHUNK_DEFAULT_BYTES, ListProjectsQuery, LogQuery } from './project.dto';
import { InvalidProjectError, ProjectAlreadyEndedError, ProjectNotFoundError, ProjectPartNotFoundError, RegistryUnavailableError } from './project-errors';
import { LogChunkView, ModelAvailability, ProjectDetailView, ProjectListView, ProjectLogsView, ProjectView, toComponentView, toProjectView, toTrackingView } from './project.view';

const DEFAULT_ROUND_TIMEOUT_SECONDS = 300;
const DEFAULT_SEED = 42;

/** Accepts, lists and cancels projects. Only the orchestrator moves a project past SUBMITTED. */
@Injectable()
export class ProjectsService {
  private readonly logger = new Logger(ProjectsService.name);

  constructor(
    private readonly store: ProjectStore,
    private readonly deployments: DeploymentStore,
    private readonly bus: MqttBus,
    private readonly registry: RegistryClient,
    private readonly logs: ProjectLogs,
    private readonly tracking: TrackingStore,
  ) {}

  async create(request: CreateProjectDto): Promise<ProjectView> {
    const training = this.trainingConfig(request);
    const id = newProjectId();
    const project = await this.store.create({
      _id: id,
      name: request.name ?? repoSlug(request.repo.url),
      state: ProjectState.SUBMITTED,
      repo: { url: request.repo.url, ...(request.repo.ref ? { ref: request.repo.ref } : {}) },
      training,
      resources: { ...request.resources },
      deadlineAt: null,
    });
    // The project is stored, so it will run: if this message is lost, the orchestrator's sweeper
    // finds the SUBMITTED project. Failing the request now would only invite a duplicate.
    await this.bus.publish(Topics.projectSubmitted, id, {}).catch((error: unknown) =>
      this.logger.warn(`${id}: could not announce the submission (the orchestrator will find it): ${String(error)}`),
    );
    return toProjectView(project);
  }

  /** The project with the components deployed for it, and whether its model is still in the registry. */
  async get(id: string): Promise<ProjectDetailView> {
    const [project, components, tracking] = await Promise.all([this.store.get(id), this.deployments.forProject(id), this.tracking.get(id)]);
    if (!project) throw new ProjectNotFoundError(id);
    const view = toProjectView(project);
    if (view.model && project.model) view.model.availability = await this.availability(project.model);
    const trackingView = tracking ? toTrackingView(tracking) : null;
    if (trackingView) view.tracking = trackingView;
    return { ...view, components: components.map(toComponentView) };
  }

  /** A stored model can disappear (deleted, registry wiped): ask the registry for its manifest. */
  private async availability(model: ModelRecord): Promise<ModelAvailability> {
    try {
      const { repository } = parseImageReference(model.reference);
      return (await this.registry.resolveTag(repository, model.digest)) ? 'stored' : 'missing';
    } catch (error) {
      this.logger.warn(`could not check model ${model.reference} in the registry: ${String(error)}`);
      return 'unknown';
    }
  }

  async list(query: ListProjectsQuery): Promise<ProjectListView> {
    const { items, total } = await this.store.list({ state: query.state, limit: query.limit ?? 50, skip: query.offset ?? 0 });
    return { items: items.map(toProjectView), total };
  }

  /** Asks the orchestrator to cancel; the answer is the project as it is now (202). */
  async cancel(id: string, request: CancelProjectDto): Promise<ProjectView> {
    const project = await this.store.get(id);
    if (!project) throw new ProjectNotFoundError(id);
    if (isTerminal(project.state)) throw new ProjectAlreadyEndedError(id, project.state);
    await this.bus.publish(Topics.projectCancelRequested, id, request.reason ? { reason: request.reason } : {});
    return toProjectView(project);
  }

  /** The components of a project that have a log. */
  async logComponents(id: string): Promise<ProjectLogsView> {
    await this.existing(id);
    const components = await this.logs.components(id);
    return { components: components.map((c) => ({ component: c.component, sizeBytes: c.sizeBytes, updatedAt: c.updatedAt.toISOString() })) };
  }

  /** Complete lines of one component's log from an offset; follow a log by asking again from `nextOffset`. */
  async readLog(id: string, component: string, query: LogQuery): Promise<LogChunkView> {
    if (!IDENTIFIER.test(component)) throw new InvalidProjectError(['component must be 1-64 letters, digits, "_" or "-"']);
    await this.existing(id);
    const chunk = await this.logs.read(id, component, query.offset ?? 0, query.limit ?? LOG_CHUNK_DEFAULT_BYTES);
    if (!chunk) throw new ProjectPartNotFoundError(`project ${id} has no log of ${component}`);
    return { component: chunk.component, offset: chunk.offset, nextOffset: chunk.nextOffset, sizeBytes: chunk.sizeBytes, lines: chunk.lines };
  }

  /** The trained model's bytes (FLT1 tensors), from the registry, with a file name for it. */
  async model(id: string): Promise<{ fileName: string; digest: string; bytes: Buffer }> {
    const project = await this.existing(id);
    if (!project.model) throw new ProjectPartNotFoundError(`project ${id} has no trained model (${project.state})`);
    const { repository } = parseImageReference(project.model.reference);
    let bytes: Buffer;
    try {
      // The artifact also carries the round history: only the tensors are the model.
      const { manifest } = await this.registry.getManifest(repository, project.model.digest);
      const tensors = manifest.layers.filter((layer) => layer.mediaType === TENSORS_MEDIA_TYPE);
      if (tensors.length !== 1) throw new Error(`the artifact has ${tensors.length} tensor blobs, expected 1`);
      bytes = await this.registry.getBlob(repository, tensors[0]);
    } catch (error) {
      const missing = await this.availability(project.model);
      if (missing === 'missing') throw new ProjectPartNotFoundError(`the model of project ${id} is no longer in the registry (${project.model.reference})`);
      throw new RegistryUnavailableError(`could not fetch the model of project ${id} from the registry: ${String(error)}`);
    }
    return { fileName: `${project.name}-${id}.flt1`, digest: project.model.digest, bytes };
  }

  private async existing(id: string) {
    const project = await this.store.get(id);
    if (!project) throw new ProjectNotFoundError(id);
    return project;
  }

  private trainingConfig(request: CreateProjectDto): TrainingConfig {
    const t = request.training;
    // The contracts' one validation: field bounds, the strategy's parameters and needs, privacy options.
    const { value, problems } = checkTrainingConfig({
      rounds: t.rounds,
      learners: t.learners,
      minLearnersPerRound: t.minLearnersPerRound ?? t.learners,
      strategy: t.strategy ?? 'fedavg',
      strategyParams: t.strategyParams ?? {},
      fractionFit: t.fractionFit ?? 1,
      fractionEvaluate: t.fractionEvaluate ?? 1,
      ...(t.maxUpdateNorm !== undefined ? { maxUpdateNorm: t.maxUpdateNorm } : {}),
      ...(t.privacy !== undefined ? { privacy: t.privacy } : {}),
      hyperparameters: { ...t.hyperparameters },
      dataTags: t.dataTags ?? [],
      roundTimeoutSeconds: t.roundTimeoutSeconds ?? DEFAULT_ROUND_TIMEOUT_SECONDS,
      seed: t.seed ?? DEFAULT_SEED,
    });
    if (!value) throw new InvalidProjectError(problems.map((p) => `training.${p}`));
    return { ...value };
  }
}

/** Short, URL-, topic- and registry-safe. */
function newProjectId(): string {
  return `p${randomBytes(8).toString('hex')}`;
}
