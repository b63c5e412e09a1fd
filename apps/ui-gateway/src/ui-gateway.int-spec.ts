/**
 * The real ui-gateway (AppModule, booted the way main.ts boots it) against the real Mosquitto at
 * FLOPS_MQTT_URL (tools/infra.sh up): messages published over MQTT come out of the SSE endpoints.
 * The broker may be shared, so every test uses its own project ids and ignores other projects.
 */
import { randomBytes } from 'node:crypto';
import { INestApplication, Logger } from '@nestjs/common';
import { BuildSucceeded, RoundCompleted, Topics, topicFor } from '@flops/contracts';
import { ProjectState } from '@flops/lifecycle';
import { MqttBus } from '@flops/messaging';
import { bootstrapService } from '@flops/service-kit';
import { AppModule } from './app.module';
import type { ProjectEvent } from '@flops/contracts';
import { ProjectEventStream } from './events/project-event-stream';

jest.setTimeout(20_000);

const MQTT_URL = process.env['FLOPS_MQTT_URL'] ?? 'mqtt://127.0.0.1:1883';
const RUN = randomBytes(4).toString('hex');
const newProjectId = () => `ui-test-${RUN}-${randomBytes(4).toString('hex')}`;

const DIGEST = `sha256:${'b'.repeat(64)}`;
/** The gateway's replay budget in these tests (FLOPS_UI_REPLAY_BYTES). */
const REPLAY_BYTES = 256 * 1024;
const round = (n: number): RoundCompleted => ({
  round: n,
  learners: 2,
  samples: 64,
  trainMetrics: { loss: 1 / n },
  evalMetrics: { accuracy: 0.5 + n / 100 },
  durationMs: 10 * n,
});
const built: BuildSucceeded = {
  image: '127.0.0.1:5000/flops/learners/test:abc',
  digest: DIGEST,
  sourceRevision: 'abc',
  cacheHit: true,
  durations: { fetchMs: 0, checkMs: 0, buildMs: 0, pushMs: 0 },
};

interface SseEvent {
  id?: string;
  event: ProjectEvent;
}

type Chunk = { done: boolean; value?: Uint8Array };

/** Reads a Server-Sent Events response with plain fetch, one `data:` event at a time. */
class SseClient {
  private buffer = '';
  private pending?: Promise<Chunk>;
  private readonly decoder = new TextDecoder();

  private constructor(
    readonly response: Response,
    private readonly reader: { read(): Promise<Chunk> },
    private readonly abort: AbortController,
  ) {}

  static async open(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
    const abort = new AbortController();
    const response = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: abort.signal });
    if (!response.ok || !response.body) throw new Error(`GET ${url}: ${response.status}`);
    return new SseClient(response, response.body.getReader(), abort);
  }

  /** The next event with data, or null if none comes within `timeoutMs`; throws if the stream ended. */
  async next(timeoutMs = 5000): Promise<SseEvent | null> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const end = this.buffer.indexOf('\n\n');
      if (end >= 0) {
        const block = this.buffer.slice(0, end);
        this.buffer = this.buffer.slice(end + 2);
        const data: string[] = [];
        let id: string | undefined;
        for (const line of block.split('\n')) {
          if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
          else if (line.startsWith('id:')) id = line.slice(3).trim();
        }
        if (data.length) return { id, event: JSON.parse(data.join('\n')) as ProjectEvent };
        continue; // a comment (heartbeat) or the opening blank line
      }
      const chunk = await this.read(deadline);
      if (chunk === null) return null;
      if (chunk.done) throw new Error('event stream ended');
      this.buffer += this.decoder.decode(chunk.value, { stream: true });
    }
  }

  /** The next event of one of `projectIds` (other projects' events on a shared broker are skipped). */
  async nextOf(projectIds: string[], timeoutMs = 5000): Promise<SseEvent> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const e = await this.next(Math.max(0, deadline - Date.now()));
      if (!e) throw new Error(`no event of ${projectIds.join(', ')} within ${timeoutMs} ms`);
      if (projectIds.includes(e.event.projectId)) return e;
    }
  }

  /** Whether the server ends the stream within `timeoutMs`. */
  async ended(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const chunk = await this.read(deadline);
      if (chunk === null) return false;
      if (chunk.done) return true;
    }
  }

  close(): void {
    this.pending?.catch(() => undefined);
    this.abort.abort();
  }

  private async read(deadline: number): Promise<Chunk | null> {
    // A read that timed out is still pending: the next call waits for the same one.
    this.pending ??= this.reader.read();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), Math.max(0, deadline - Date.now()))));
    const result = await Promise.race([this.pending, timeout]);
    clearTimeout(timer);
    if (result !== null) this.pending = undefined;
    return result;
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

describe('ui-gateway against the real broker', () => {
  let app: INestApplication;
  let base: string;
  let bus: MqttBus;
  let stream: ProjectEventStream;
  let closed = false;
  const clients: SseClient[] = [];
  const warnings = jest.spyOn(Logger.prototype, 'warn');

  const open = async (path: string, headers?: Record<string, string>) => {
    const client = await SseClient.open(`${base}${path}`, headers);
    clients.push(client);
    return client;
  };

  beforeAll(async () => {
    process.env.FLOPS_UI_REPLAY_BYTES = String(REPLAY_BYTES);
    app = await bootstrapService({
      name: 'ui-gateway-test',
      module: AppModule,
      logLevel: 'warn',
      httpPort: 0,
      mqtt: { url: MQTT_URL, clientId: `flops-ui-test-${RUN}`, persistentSession: false },
    });
    base = await app.getUrl();
    stream = app.get(ProjectEventStream);
    bus = await MqttBus.connect({ url: MQTT_URL, clientId: `flops-ui-test-${RUN}` });
    // The gateway's subscriptions may not be in place the moment it has connected: probe until one arrives.
    const probe = newProjectId();
    for (let attempt = 0; stream.history(probe).length === 0; attempt++) {
      if (attempt === 50) throw new Error(`the gateway received nothing from ${MQTT_URL}`);
      await bus.publish(Topics.trainingFailed, probe, { reason: 'probe' });
      await sleep(200);
    }
  });

  afterEach(() => {
    for (const c of clients.splice(0)) c.close();
  });

  afterAll(async () => {
    await bus?.close();
    if (!closed) await app?.close();
    warnings.mockRestore();
  });

  it('answers /health', async () => {
    const response = await fetch(`${base}/health`);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ status: 'ok' });
  });

  it('serves the events page with a strict content security policy', async () => {
    const response = await fetch(`${base}/`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/html/);
    expect(response.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(await response.text()).toContain('new EventSource(');
  });

  it("streams a project's events live, and an invalid message breaks neither the stream nor the app", async () => {
    const projectId = newProjectId();
    const other = newProjectId();
    const client = await open(`/projects/${projectId}/events`);
    expect(client.response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const topic = topicFor(Topics.roundCompleted, projectId);

    await bus.publish(Topics.roundCompleted, projectId, round(1));
    await bus.publishRaw(topic, Buffer.concat([Buffer.from([0xff, 0xfe, 0x00, 0x7b]), randomBytes(60)]));
    // Well-formed, but claims another project than its topic's: dropped as well.
    await bus.publishRaw(topic, JSON.stringify({ schema: 'flops/v1', messageId: 'x', sentAt: new Date().toISOString(), projectId: other, payload: round(9) }));
    await bus.publish(Topics.roundCompleted, other, round(7));
    await bus.publish(Topics.trainingCompleted, projectId, {
      rounds: 1,
      finalMetrics: { accuracy: 0.51 },
      model: { reference: `127.0.0.1:5000/flops/models/${projectId}@${DIGEST}`, digest: DIGEST, sizeBytes: 123 },
    });

    const first = await client.next();
    expect(first?.event).toMatchObject({ projectId, type: 'roundCompleted', payload: round(1) });
    expect(Date.parse(first!.event.at)).not.toBeNaN();
    expect(first?.id).toMatch(/^[0-9a-f-]{36}$/);
    const second = await client.next();
    expect(second?.event).toMatchObject({ projectId, type: 'trainingCompleted', payload: { rounds: 1, finalMetrics: { accuracy: 0.51 } } });

    const dropped = () => warnings.mock.calls.filter(([m]) => String(m).includes(`invalid message on ${topic}`)).length;
    await until(() => dropped() === 2, 'both invalid messages to be dropped');
    expect(stream.history(projectId).map((e) => e.event.type)).toEqual(['roundCompleted', 'trainingCompleted']);
    expect((await fetch(`${base}/health`)).status).toBe(200);

    // Still live after the bad messages.
    await bus.publish(Topics.trainingFailed, projectId, { reason: 'late' });
    expect((await client.next())?.event).toMatchObject({ type: 'trainingFailed', payload: { reason: 'late' } });
  });

  it('logs a 100,000-deep payload once as an invalid message, never as a handler failure (RangeError)', async () => {
    const projectId = newProjectId();
    const topic = topicFor(Topics.trainingFailed, projectId);
    const errors = jest.spyOn(Logger.prototype, 'error');
    const depth = 100_000;
    const deep = `{"schema":"flops/v1","messageId":"m-deep","sentAt":"${new Date().toISOString()}","projectId":"${projectId}",` +
      `"payload":{"reason":${'['.repeat(depth)}${']'.repeat(depth)}}}`;
    await bus.publishRaw(topic, deep);
    await bus.publish(Topics.trainingFailed, projectId, { reason: 'after the deep one' });

    await until(() => stream.history(projectId).length === 1, 'the valid message after the deep one');
    const about = (calls: unknown[][]) => calls.filter(([m]) => String(m).includes(topic)).map(([m]) => String(m));
    expect(about(warnings.mock.calls)).toEqual([expect.stringMatching(/^dropped invalid message on .*: not a JSON object nested at most \d+ deep/)]);
    expect(about(errors.mock.calls)).toEqual([]);
    expect(errors.mock.calls.filter(([m]) => String(m).includes('RangeError'))).toEqual([]);
    errors.mockRestore();
  });

  it('keeps its replay memory bounded: 1 MB reasons are refused by the contract, and 300 bulky events stay within the byte budget', async () => {
    const projects = Array.from({ length: 30 }, newProjectId);
    const stateChange = (projectId: string, i: number, reason: string) =>
      JSON.stringify({
        schema: 'flops/v1',
        messageId: `m-${RUN}-${i}`,
        sentAt: new Date().toISOString(),
        projectId,
        payload: { from: ProjectState.TRAINING, to: ProjectState.FAILED, version: i, at: new Date().toISOString(), reason },
      });
    const megabyte = 'r'.repeat(1024 * 1024);
    for (let i = 0; i < 300; i++) {
      const projectId = projects[i % projects.length];
      await bus.publishRaw(topicFor(Topics.projectStateChanged, projectId), stateChange(projectId, i, megabyte));
    }
    const marker = newProjectId();
    await bus.publish(Topics.trainingFailed, marker, { reason: 'after the huge ones' });
    await until(() => stream.history(marker).length === 1, 'the message after the huge ones', 120_000);
    expect(projects.flatMap((p) => stream.history(p))).toEqual([]);

    for (let i = 0; i < 300; i++) {
      const projectId = projects[i % projects.length];
      await bus.publish(Topics.projectStateChanged, projectId, {
        from: ProjectState.TRAINING,
        to: ProjectState.FAILED,
        version: i,
        at: new Date().toISOString(),
        reason: 'x'.repeat(4000),
      });
    }
    const last = projects[299 % projects.length];
    await until(() => stream.history(last).some((e) => (e.event.payload as { version: number }).version === 299), 'the last bulky event', 60_000);
    expect(stream.retainedBytes()).toBeLessThanOrEqual(REPLAY_BYTES);
    expect(stream.retainedBytes()).toBeGreaterThan(REPLAY_BYTES - 5_000);
  }, 180_000); // 300 MB through the broker

  it("replays a project's recent events to a late watcher, and resumes after Last-Event-ID", async () => {
    const projectId = newProjectId();
    await bus.publish(Topics.projectStateChanged, projectId, {
      from: ProjectState.IMAGE_CHECK,
      to: ProjectState.BUILDING,
      version: 2,
      at: new Date().toISOString(),
    });
    await bus.publish(Topics.buildSucceeded, projectId, built);
    await bus.publish(Topics.trainingStarted, projectId, { learners: ['a', 'b'] });
    await until(() => stream.history(projectId).length === 3, 'three events to arrive');

    const late = await open(`/projects/${projectId}/events`);
    const replayed = [await late.next(), await late.next(), await late.next()];
    expect(replayed.map((e) => e?.event.type)).toEqual(['projectStateChanged', 'buildSucceeded', 'trainingStarted']);
    expect(replayed[1]?.event.payload).toEqual(built);
    await bus.publish(Topics.roundCompleted, projectId, round(1));
    expect((await late.next())?.event.type).toBe('roundCompleted');
    late.close();

    const resumed = await open(`/projects/${projectId}/events`, { 'last-event-id': replayed[1]!.id! });
    expect((await resumed.next())?.event.type).toBe('trainingStarted');
    expect((await resumed.next())?.event.type).toBe('roundCompleted');
    expect(await resumed.next(300)).toBeNull();
  });

  it("streams every project's events on /events, live only", async () => {
    const [a, b] = [newProjectId(), newProjectId()];
    await bus.publish(Topics.buildStarted, a, { image: 'before-watching', sourceRevision: 'r0' });
    await until(() => stream.history(a).length === 1, 'the early event to arrive');

    const client = await open('/events');
    await bus.publish(Topics.buildStarted, a, { image: 'img-a', sourceRevision: 'r1' });
    await bus.publish(Topics.buildFailed, b, { phase: 'fetch', reason: 'repository not found' });
    await bus.publish(Topics.projectStateChanged, a, { from: ProjectState.BUILDING, to: ProjectState.FAILED, version: 3, at: new Date().toISOString(), reason: 'x' });

    const seen = [await client.nextOf([a, b]), await client.nextOf([a, b]), await client.nextOf([a, b])].map((e) => e.event);
    expect(seen.map((e) => [e.projectId, e.type])).toEqual([
      [a, 'buildStarted'],
      [b, 'buildFailed'],
      [a, 'projectStateChanged'],
    ]);
    expect(seen[0].payload).toEqual({ image: 'img-a', sourceRevision: 'r1' });
  });

  it('refuses a project id that is not one', async () => {
    const response = await fetch(`${base}/projects/not.a.project/events`);
    expect(response.status).toBe(400);
    await response.body?.cancel();
  });

  it('ends open event streams when the app shuts down, and shuts down promptly', async () => {
    const all = await open('/events');
    const one = await open(`/projects/${newProjectId()}/events`);
    const started = Date.now();
    const closing = app.close();
    expect(await all.ended(5000)).toBe(true);
    expect(await one.ended(5000)).toBe(true);
    await closing;
    // Not held up by the streams' connections waiting for another request (keep-alive).
    expect(Date.now() - started).toBeLessThan(2000);
    closed = true;
  });
});
