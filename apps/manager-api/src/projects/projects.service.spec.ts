import { tmpdir } from 'node:os';
import { FileProjectLogs } from '../logs/project-logs';
import { repoSlug as nameFromRepoUrl } from '@flops/contracts';
import { ProjectState } from '@flops/lifecycle';
import { EMPTY_DESCRIPTOR, MediaTypes } from '@flops/oci-registry';
import { InMemoryDeploymentStore, InMemoryProjectStore, InMemoryRegistry, InMemoryTrackingStore, RecordingBus } from '@flops/testing';
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

function setup() {
  const store = new InMemoryProjectStore();
  const bus = new RecordingBus();
  const registry = new InMemoryRegistry();
  const service = new ProjectsService(store, new InMemoryDeploymentStore(), bus, registry, new FileProjectLogs(tmpdir()), new InMemoryTrackingStore());
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
    expect(store.has(view.id)).toBe(true);
    expect(bus.published).toEqual([{ topic: 'projectSubmitted', projectId: view.id, payload: {} }]);
  });

  it('still answers with the stored project when the announcement cannot be sent (the sweeper starts it)', async () => {
    const { service, store, bus } = setup();
    bus.failWith = new Error('broker unreachable');
    const view = await service.create(request());
    expect(store.current(view.id).state).toBe(ProjectState.SUBMITTED);
  });

  it('refuses more learners per round than learners, storing and announcing nothing', async () => {
    const { service, store, bus } = setup();
    await expect(service.create(request({ learners: 2, minLearnersPerRound: 3 }))).rejects.toBeInstanceOf(InvalidProjectError);
    expect(store.size).toBe(0);
    expect(bus.published).toEqual([]);
  });

  it('asks the orchestrator to cancel a running project, refuses an ended or unknown one', async () => {
    const { service, store, bus } = setup();
    const view = await service.create(request());
    bus.published.length = 0;

    await service.cancel(view.id, { reason: 'enough' });
    expect(bus.published).toEqual([{ topic: 'projectCancelRequested', projectId: view.id, payload: { reason: 'enough' } }]);

    store.put({ ...store.current(view.id), state: ProjectState.COMPLETED });
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
    store.put({ ...store.current(view.id), state: ProjectState.COMPLETED, model });

    registry.put(`flops/models/${view.id}`, 'final', digest, { schemaVersion: 2, mediaType: MediaTypes.imageManifest, config: EMPTY_DESCRIPTOR, layers: [] });
    expect((await service.get(view.id)).model).toEqual({ ...model, availability: 'stored' });
    registry.remove(`flops/models/${view.id}`, digest);
    expect((await service.get(view.id)).model).toEqual({ ...model, availability: 'missing' });
    registry.failWith = new Error('registry unreachable');
    expect((await service.get(view.id)).model).toEqual({ ...model, availability: 'unknown' });
  });
});
