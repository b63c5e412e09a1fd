import { Injectable, Logger } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { Topics, TrainingConfig, checkTrainingConfig, repoSlug } from '@flops/contracts';
import { ProjectState, isTerminal } from '@flops/lifecycle';
import { MqttBus } from '@flops/messaging';
import { DeploymentStore, ModelRecord, ProjectStore, TrackingStore } from '@flops/models';
import { RegistryClient, parseImageReference } from '@flops/oci-registry';
import { CancelProjectDto, CreateProjectDto, ListProjectsQuery } from './project.dto';
import { InvalidProjectError, ProjectAlreadyEndedError, ProjectNotFoundError } from './project-errors';
import { ModelAvailability, ProjectDetailView, ProjectListView, ProjectView, toComponentView, toProjectView, toTrackingView } from './project.view';

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
