import { tmpdir } from 'node:os';
import { FileProjectLogs } from '../logs/project-logs';
import { repoSlug as nameFromRepoUrl } from '@flops/contracts';
import type { TopicDef } from '@flops/contracts';
import { ProjectState } from '@flops/lifecycle';
import type { MqttBus } from '@flops/messaging';
import type { DeploymentStore, NewProject, ProjectRecord, ProjectStore, TrackingStore } from '@flops/models';
import type { RegistryClient } from '@flops/oci-registry';
import { InvalidProjectError, ProjectAlreadyEndedError, ProjectNotFoundError } from './project-errors';
import type { CreateProjectDto } from './project.dto';
import { ProjectsService } from './projects.service';

/** A repository path component as OCI registries (and the build.requested contract) accept it. */
const REGISTRY_COMPONENT = /^[a-z0-9]+(?:[._-][a-z0-9]+)*$/;
/** A project name as the API accepts it. */
const PROJECT_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;

describe('nameFromRepoUrl', () => {
  it.each([
    ['https://host/org/Digits-TFJS.git', 'digits-tfjs'],
    ['https://github.com/org/mnist_cnn', 'mnist-cnn'],
    ['https://github.com/org/mnist_cnn/', 'mnist-cnn'],
    ['https://github.com/org/repo.git//', 'repo'],
    ['git@github.com:org/My.Repo.git', 'my-repo'],
    ['ssh://git@host:2222/team/Fed Learning.git', 'fed-learning'],
    ['file:///srv/git/digits.git', 'digits'],
    ['examples/digits-tfjs', 'digits-tfjs'],
    ['./examples/digits-tfjs/', 'digits-tfjs'],
    ['C:\\Users\\me\\ML Repo\\', 'ml-repo'],
    ['/home/me/--weird__name--', 'weird-name'],
    ['https://host/org/ÄÖÜ-model', 'model'],
  ])('%s → %s', (url, name) => {
    expect(nameFromRepoUrl(url)).toBe(name);
  });

  it.each(['', '/', '.git', 'https://host/org/___', 'https://host/org/ÄÖÜ', '\\\\'])(
    'falls back to a stable hash name when %j has no usable last part',
    (url) => {
      const name = nameFromRepoUrl(url);
      expect(name).toMatch(/^repo-[0-9a-f]{8}$/);
      expect(nameFromRepoUrl(url)).toBe(name);
    },
  );

  it('gives different fallback names to different URLs', () => {
    expect(nameFromRepoUrl('https://a.example/___')).not.toBe(nameFromRepoUrl('https://b.example/___'));
  });

  it('keeps names at most 50 characters long', () => {
    const name = nameFromRepoUrl(`https://host/org/${'a'.repeat(80)}.git`);
    expect(name).toBe('a'.repeat(50));
  });

  it.each([
    `https://host/org/${'a'.repeat(49)}_${'b'.repeat(10)}.git`,
    `https://host/org/${'x'.repeat(48)}--${'y'.repeat(10)}`,
    `https://host/org/${'x'.repeat(49)}.${'y'.repeat(10)}`,
  ])('does not end a shortened name with a dash (%s)', (url) => {
    const name = nameFromRepoUrl(url);
    expect(name.length).toBeLessThanOrEqual(50);
    expect(name).toMatch(REGISTRY_COMPONENT);
  });

  it.each([
    'https://host/org/Digits-TFJS.git',
    'git@github.com:org/My.Repo.git',
    'C:\\Users\\me\\ML Repo\\',
    '',
    `https://host/${'A_'.repeat(40)}`,
    'https://host/org/-.-_x_-.-',
  ])('always yields a valid project name and registry path component (%j)', (url) => {
    const name = nameFromRepoUrl(url);
    expect(name).toMatch(PROJECT_NAME);
    expect(name).toMatch(REGISTRY_COMPONENT);
  });
});

// ---- ProjectsService, with its store and broker replaced ------------------------------------------


class FakeStore {
  readonly records = new Map<string, ProjectRecord>();
  async create(project: NewProject): Promise<ProjectRecord> {
    const at = new Date();
    const record: ProjectRecord = { ...project, version: 0, rounds: [], history: [{ from: null, to: project.state, at, event: 'submitted' }], createdAt: at, updatedAt: at };
    this.records.set(record._id, record);
    return record;
  }
  async get(id: string): Promise<ProjectRecord | null> {
    return this.records.get(id) ?? null;
  }
}

class FakeBus {
  readonly published: { topic: string; projectId: string; payload: object }[] = [];
  failing = false;
  async publish(def: TopicDef<object>, projectId: string, payload: object): Promise<void> {
    if (this.failing) throw new Error('broker unreachable');
    this.published.push({ topic: def.template, projectId, payload });
  }
}

class FakeRegistry {
  manifests = new Set<string>();
  reachable = true;
  async resolveTag(repository: string, ref: string): Promise<string | null> {
    if (!this.reachable) throw new Error('registry unreachable');
    return this.manifests.has(`${repository}@${ref}`) ? ref : null;
  }
}

function setup() {
  const store = new FakeStore();
  const bus = new FakeBus();
  const deployments = { forProject: async () => [] } as unknown as DeploymentStore;
  const registry = new FakeRegistry();
  const tracking = { get: async () => null } as unknown as TrackingStore;
  const service = new ProjectsService(store as unknown as ProjectStore, deployments, bus as unknown as MqttBus, registry as unknown as RegistryClient, new FileProjectLogs(tmpdir()), tracking);
  return { service, store, bus, registry };
}

const request = (training: Partial<CreateProjectDto['training']> = {}): CreateProjectDto => ({
  repo: { url: 'https://git.example/org/Digits.git' },
  training: { rounds: 3, learners: 4, ...training },
});

describe('ProjectsService', () => {
  it('stores a SUBMITTED project with the training defaults filled in and announces it', async () => {
    const { service, store, bus } = setup();
    const view = await service.create(request());

    expect(view).toMatchObject({ state: ProjectState.SUBMITTED, name: 'digits' });
    expect(view.training).toEqual({
      rounds: 3, learners: 4, minLearnersPerRound: 4, strategy: 'fedavg', strategyParams: {}, fractionFit: 1, fractionEvaluate: 1,
      hyperparameters: {}, dataTags: [], roundTimeoutSeconds: 300, seed: 42,
    });
    expect(store.records.has(view.id)).toBe(true);
    expect(bus.published).toEqual([{ topic: 'flops/v1/projects/{projectId}/submitted', projectId: view.id, payload: {} }]);
  });

  it('still answers with the stored project when the announcement cannot be sent (the sweeper starts it)', async () => {
    const { service, store, bus } = setup();
    bus.failing = true;
    const view = await service.create(request());
    expect(store.records.get(view.id)?.state).toBe(ProjectState.SUBMITTED);
  });

  it('refuses more learners per round than learners, storing and announcing nothing', async () => {
    const { service, store, bus } = setup();
    await expect(service.create(request({ learners: 2, minLearnersPerRound: 3 }))).rejects.toBeInstanceOf(InvalidProjectError);
    expect(store.records.size).toBe(0);
    expect(bus.published).toEqual([]);
  });

  it('asks the orchestrator to cancel a running project, refuses an ended or unknown one', async () => {
    const { service, store, bus } = setup();
    const view = await service.create(request());
    bus.published.length = 0;

    await service.cancel(view.id, { reason: 'enough' });
    expect(bus.published).toEqual([{ topic: 'flops/v1/projects/{projectId}/cancel', projectId: view.id, payload: { reason: 'enough' } }]);

    store.records.set(view.id, { ...store.records.get(view.id)!, state: ProjectState.COMPLETED });
    await expect(service.cancel(view.id, {})).rejects.toBeInstanceOf(ProjectAlreadyEndedError);
    await expect(service.cancel('p0', {})).rejects.toBeInstanceOf(ProjectNotFoundError);
    await expect(service.get('p0')).rejects.toBeInstanceOf(ProjectNotFoundError);
    expect(bus.published).toHaveLength(1);
  });
});

describe('ProjectsService: the stored model', () => {
  it('shows whether the model is still in the registry, and unknown when the registry does not answer', async () => {
    const { service, store, registry } = setup();
    const view = await service.create(request());
    const digest = `sha256:${'c'.repeat(64)}`;
    const model = { reference: `127.0.0.1:5000/flops/models/${view.id}@${digest}`, digest, sizeBytes: 10 };
    store.records.set(view.id, { ...store.records.get(view.id)!, state: ProjectState.COMPLETED, model });

    registry.manifests.add(`flops/models/${view.id}@${digest}`);
    expect((await service.get(view.id)).model).toEqual({ ...model, availability: 'stored' });
    registry.manifests.clear();
    expect((await service.get(view.id)).model).toEqual({ ...model, availability: 'missing' });
    registry.reachable = false;
    expect((await service.get(view.id)).model).toEqual({ ...model, availability: 'unknown' });
  });
});
