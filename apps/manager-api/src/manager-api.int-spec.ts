/**
 * The real manager-api (AppModule, booted the way main.ts boots it) on the real database, broker
 * and registry: every response it gives is checked against the OpenAPI document it serves.
 */
import { INestApplication } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { componentLogFile, projectLogDir } from '@flops/config';
import { MODEL_ARTIFACT_TYPE } from '@flops/contracts';
import { TENSORS_MEDIA_TYPE } from '@flops/tensor-codec';
import { Connection } from 'mongoose';
import { ProjectState } from '@flops/lifecycle';
import { ProjectStore, connectDatabase } from '@flops/models';
import { RegistryClient, pushArtifact } from '@flops/oci-registry';
import { bootstrapService } from '@flops/service-kit';
import { ApiClient, OpenApiContract, infraEnv } from '@flops/testing';
import { AppModule } from './app.module';
import { configureHttp } from './http-setup';

jest.setTimeout(30_000);

const RUN = randomBytes(4).toString('hex');
const DB_NAME = `flops_int_api_${RUN}`;
const DIGEST = (c: string) => `sha256:${c.repeat(64)}`;
const DATA_DIR = mkdtempSync(`${tmpdir()}/flops-api-logs-`);

describe('manager-api: real responses against the served OpenAPI document', () => {
  let app: INestApplication;
  let base: string;
  let api: ApiClient;
  let db: Connection;
  let store: ProjectStore;
  let document: any;

  beforeAll(async () => {
    Object.assign(process.env, infraEnv(), { FLOPS_DB_NAME: DB_NAME, FLOPS_LOG_LEVEL: 'warn', FLOPS_DATA_DIR: DATA_DIR });
    app = await bootstrapService({ name: 'manager-api', module: AppModule, logLevel: 'warn', httpPort: 0, configure: configureHttp });
    base = (await app.getUrl()).replace('[::1]', '127.0.0.1');
    api = await ApiClient.checked(base);
    document = await (await fetch(`${base}/api/docs-json`)).json();
    db = await connectDatabase(infraEnv().MONGO_URL, DB_NAME);
    store = new ProjectStore(db);
  });

  afterAll(async () => {
    rmSync(DATA_DIR, { recursive: true, force: true });
    await app?.close();
    if (db) {
      await db.dropDatabase();
      await db.close();
    }
  });

  /** A project with every optional part filled in, as the orchestrator would have left it. */
  async function aProjectWithEverything(state: ProjectState): Promise<string> {
    const id = `p${randomBytes(8).toString('hex')}`;
    const at = new Date();
    await store.create({
      _id: id,
      name: 'everything',
      state: ProjectState.SUBMITTED,
      repo: { url: 'https://git.example/org/digits.git', ref: 'main' },
      training: {
        rounds: 2,
        learners: 2,
        minLearnersPerRound: 1,
        strategy: 'fedavg',
        strategyParams: {},
        fractionFit: 1,
        fractionEvaluate: 1,
        hyperparameters: { epochs: 2, optimizer: 'adam', shuffle: true },
        dataTags: ['digits'],
        roundTimeoutSeconds: 60,
        seed: 7,
      },
      resources: { cpus: 1.5, memoryMiB: 512 },
      deadlineAt: new Date(Date.now() + 60_000),
    });
    const round = (n: number) => ({
      round: n,
      learners: 2,
      samples: 100,
      trainMetrics: { loss: 0.5 / n },
      evalMetrics: { accuracy: 0.8 + n / 100, loss: 0.4 },
      durationMs: 1200,
      at,
    });
    const changed = await store.apply(id, 0, {
      set: {
        state,
        image: {
          reference: '127.0.0.1:5000/flops/learners/digits:abc-tfjs-4',
          digest: DIGEST('a'),
          sourceRevision: 'abc',
          cacheHit: false,
          durations: { fetchMs: 1, checkMs: 2, buildMs: 3, pushMs: 4 },
        },
        finalMetrics: { accuracy: 0.82, loss: 0.4 },
        model: { reference: `127.0.0.1:5000/flops/models/${id}@${DIGEST('b')}`, digest: DIGEST('b'), sizeBytes: 4096 },
        failure: { stage: 'training', reason: 'learner-1 exited with code 3', at },
        deadlineAt: state === ProjectState.TRAINING ? new Date(Date.now() + 60_000) : null,
        cleanedUpAt: at,
      },
      appendRound: round(1),
      appendHistory: { from: ProjectState.SUBMITTED, to: state, at, event: 'made-up', reason: 'for the test' },
    });
    await store.apply(id, changed!.version, { appendRound: round(2) });
    return id;
  }

  it('describes a submitted project, one with every part filled in, a list and a cancellation', async () => {
    const submitted = await api.request('POST', '/api/projects', {
      repo: { url: 'https://git.example/org/digits.git' },
      training: { rounds: 2, learners: 2, dataTags: ['digits'] },
      resources: { cpus: 1 },
    });
    expect(submitted.status).toBe(201);

    const everything = await aProjectWithEverything(ProjectState.TRAINING);
    const full = await api.request('GET', `/api/projects/${everything}`);
    expect(full.status).toBe(200);
    expect(full.json.rounds).toHaveLength(2);
    expect(full.json.deadlineAt).toEqual(expect.stringMatching(/^\d{4}-\d\d-\d\dT/));
    expect(full.json).not.toHaveProperty('cleanedUpAt');
    expect(full.json).not.toHaveProperty('_id');

    expect((await api.request('GET', '/api/projects?limit=500')).status).toBe(200);
    expect((await api.request('GET', `/api/projects?state=TRAINING&limit=1&offset=0`)).status).toBe(200);
    expect((await api.request('POST', `/api/projects/${everything}/cancel`, { reason: 'enough' })).status).toBe(202);

    const ended = await aProjectWithEverything(ProjectState.FAILED);
    expect((await api.request('GET', `/api/projects/${ended}`)).json.deadlineAt).toBeNull();
    expect((await api.request('POST', `/api/projects/${ended}/cancel`, {})).status).toBe(409);
    expect(api.checkedResponses).toBe(7);
  });

  it('describes its refusals: 400 for create, list and cancel, 404 for an unknown project', async () => {
    const refusals: [string, string, unknown, number][] = [
      ['POST', '/api/projects', { repo: { url: 'x' }, training: { rounds: 0, learners: 1 } }, 400],
      ['GET', '/api/projects?limit=abc', undefined, 400],
      ['GET', '/api/projects?state=NOPE', undefined, 400],
      ['POST', `/api/projects/${await aProjectWithEverything(ProjectState.TRAINING)}/cancel`, { reason: 5 }, 400],
      ['GET', '/api/projects/p0000000000000000', undefined, 404],
      ['POST', '/api/projects/p0000000000000000/cancel', {}, 404],
    ];
    for (const [method, path, body, status] of refusals) expect((await api.request(method, path, body)).status).toBe(status);
  });

  it('refuses what the document refuses (schemathesis findings)', async () => {
    const training = { rounds: 1, learners: 1 };
    const status = async (query: string) => (await api.request('GET', `/api/projects?${query}`)).status;
    expect(await status('limit=1.5')).toBe(400);
    expect(await status('offset=0.5')).toBe(400);
    const post = async (body: unknown) => (await api.request('POST', '/api/projects', body)).status;
    expect(await post({ repo: { url: 'x' }, training, resources: { memoryMiB: null } })).toBe(400);
    expect(await post({ repo: { url: 'x' }, training, resources: { cpus: null } })).toBe(400);
    expect(await post({ repo: { url: 'x' }, training: { ...training, dataTags: ['no spaces'] } })).toBe(400);

    const list = document.paths['/api/projects'].get;
    const limit = list.parameters.find((p: { name: string }) => p.name === 'limit');
    const offset = list.parameters.find((p: { name: string }) => p.name === 'offset');
    expect([limit.schema.type, offset.schema.type]).toEqual(['integer', 'integer']);
    expect(Object.keys(list.responses)).toEqual(expect.arrayContaining(['200', '400']));
    expect(Object.keys(document.paths['/api/projects/{id}/cancel'].post.responses)).toEqual(expect.arrayContaining(['202', '400', '404', '409']));
    const schemas = document.components.schemas;
    expect(schemas.TrainingDto.properties.dataTags.items).toEqual(expect.objectContaining({ type: 'string', pattern: expect.any(String) }));
    expect(schemas.ResourcesDto.properties.memoryMiB.type).toBe('integer');
  });

  it('shows a stored model that has disappeared from the registry as missing (real registry)', async () => {
    const registry = new RegistryClient({ url: infraEnv().FLOPS_REGISTRY_URL });
    const repository = `flops-test/api-${RUN}/models`;
    const pushed = await pushArtifact(registry, repository, 'final', {
      artifactType: 'application/vnd.flops.model.v1',
      blobs: [{ data: Buffer.from(`model of ${RUN}`), mediaType: 'application/vnd.flops.tensors.v1' }],
    });
    const id = await aProjectWithEverything(ProjectState.COMPLETED);
    const project = (await store.get(id))!;
    const model = { reference: `${registry.registryHost}/${repository}@${pushed.digest}`, digest: pushed.digest, sizeBytes: 12 };
    await store.apply(id, project.version, { set: { model } });

    const stored = await api.request('GET', `/api/projects/${id}`);
    expect(stored.json.model).toEqual({ ...model, availability: 'stored' });

    expect(await registry.deleteManifest(repository, pushed.digest)).toBe(true);
    const missing = await api.request('GET', `/api/projects/${id}`);
    expect(missing.json.model).toEqual({ ...model, availability: 'missing' });
    // the list does not ask the registry for every project
    const listed = (await api.request('GET', '/api/projects?limit=500')).json.items.find((p: { id: string }) => p.id === id);
    expect(listed.model).toEqual(model);
  });

  it('serves the logs the driver and the builder write, line by line from an offset', async () => {
    const id = await aProjectWithEverything(ProjectState.TRAINING);
    mkdirSync(projectLogDir(DATA_DIR, id), { recursive: true });
    writeFileSync(componentLogFile(DATA_DIR, id, 'builder'), 'resolving repo\ngit commit abc\n');
    writeFileSync(componentLogFile(DATA_DIR, id, 'learner-0'), 'ready\nround 1 done\nhalf a li');
    writeFileSync(`${projectLogDir(DATA_DIR, id)}/notes.txt`, 'not a log');

    const listed = await api.request('GET', `/api/projects/${id}/logs`);
    expect(listed.json.components.map((c: { component: string; sizeBytes: number }) => [c.component, c.sizeBytes])).toEqual([
      ['builder', 30],
      ['learner-0', 28],
    ]);
    const first = await api.request('GET', `/api/projects/${id}/logs/learner-0`);
    // the unfinished last line waits until it is complete
    expect(first.json).toEqual({ component: 'learner-0', offset: 0, nextOffset: 19, sizeBytes: 28, lines: ['ready', 'round 1 done'] });
    appendFileSync(componentLogFile(DATA_DIR, id, 'learner-0'), 'ne\nround 2 done\n');
    const next = await api.request('GET', `/api/projects/${id}/logs/learner-0?offset=${first.json.nextOffset}`);
    expect(next.json.lines).toEqual(['half a line', 'round 2 done']);
    expect(next.json.nextOffset).toBe(next.json.sizeBytes);
    // a chunk bound cuts at a line end
    const big = 'x'.repeat(700);
    writeFileSync(componentLogFile(DATA_DIR, id, 'aggregator'), `${big}\n${big}\n`);
    const bounded = await api.request('GET', `/api/projects/${id}/logs/aggregator?limit=1024`);
    expect([bounded.json.lines.length, bounded.json.nextOffset]).toEqual([1, 701]);

    const other = await aProjectWithEverything(ProjectState.TRAINING);
    expect((await api.request('GET', `/api/projects/${other}/logs`)).json).toEqual({ components: [] });
    expect((await api.request('GET', `/api/projects/${id}/logs/learner-9`)).status).toBe(404);
    expect((await api.request('GET', `/api/projects/${id}/logs/..%2Fsecret`)).status).toBe(400);
    expect((await api.request('GET', `/api/projects/${id}/logs/builder?limit=5`)).status).toBe(400);
    expect((await api.request('GET', '/api/projects/p0000000000000000/logs')).status).toBe(404);
  });

  it('hands out the trained model from the registry (real registry), and says when there is none', async () => {
    const registry = new RegistryClient({ url: infraEnv().FLOPS_REGISTRY_URL });
    const repository = `flops-test/api-${RUN}/download`;
    const bytes = randomBytes(5000);
    const pushed = await pushArtifact(registry, repository, 'final', { artifactType: MODEL_ARTIFACT_TYPE, blobs: [{ data: bytes, mediaType: TENSORS_MEDIA_TYPE }] });
    const id = await aProjectWithEverything(ProjectState.COMPLETED);
    const project = (await store.get(id))!;
    await store.apply(id, project.version, { set: { model: { reference: `${registry.registryHost}/${repository}@${pushed.digest}`, digest: pushed.digest, sizeBytes: 5000 } } });

    const res = await fetch(`${base}/api/projects/${id}/model`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain(TENSORS_MEDIA_TYPE);
    expect(res.headers.get('content-disposition')).toBe(`attachment; filename="everything-${id}.flt1"`);
    expect(Buffer.from(await res.arrayBuffer()).equals(bytes)).toBe(true);

    const untrained = await api.request('POST', '/api/projects', { repo: { url: 'https://git.example/org/digits.git' }, training: { rounds: 1, learners: 1 } });
    expect((await api.request('GET', `/api/projects/${untrained.json.id}/model`)).status).toBe(404);
    expect((await api.request('GET', `/api/projects/p0000000000000000/model`)).status).toBe(404);
    expect(await registry.deleteManifest(repository, pushed.digest)).toBe(true);
    expect((await api.request('GET', `/api/projects/${id}/model`)).status).toBe(404);
  });

  it('its served document is the committed one (docs/contracts/openapi.json)', async () => {
    const contract = await OpenApiContract.fromDocument(document);
    expect(contract).toBeDefined();
    expect(document).toEqual(require('../../../docs/contracts/openapi.json'));
  });
});
