import { Observable } from 'rxjs';
import { ProjectState } from '@flops/lifecycle';
import type { ProjectEvent } from '@flops/contracts';
import { ProjectEventStream, StreamedEvent } from './project-event-stream';

let seq = 0;
function event(projectId: string, round = 1): [string, ProjectEvent] {
  seq += 1;
  return [
    `m${seq}`,
    {
      projectId,
      type: 'roundCompleted',
      at: new Date(Date.UTC(2025, 0, 1, 0, 0, seq)).toISOString(),
      payload: { round, learners: 2, samples: 10, trainMetrics: { loss: 0.5 }, evalMetrics: { accuracy: 0.9 }, durationMs: 5 },
    },
  ];
}

function collect(source: Observable<StreamedEvent>) {
  const seen: StreamedEvent[] = [];
  const state = { completed: false };
  source.subscribe({ next: (e) => seen.push(e), complete: () => (state.completed = true) });
  return { seen, state, rounds: () => seen.map((e) => (e.event.payload as { round: number }).round) };
}

describe('ProjectEventStream', () => {
  it('fans every event out to every watcher of all projects', () => {
    const stream = new ProjectEventStream();
    const a = collect(stream.all());
    const b = collect(stream.all());
    const e1 = event('p1', 1);
    const e2 = event('p2', 2);
    stream.publish(...e1);
    stream.publish(...e2);
    for (const watcher of [a, b]) {
      expect(watcher.seen).toEqual([
        { id: e1[0], event: e1[1] },
        { id: e2[0], event: e2[1] },
      ]);
    }
  });

  it('gives all-project watchers no history', () => {
    const stream = new ProjectEventStream();
    stream.publish(...event('p1'));
    expect(collect(stream.all()).seen).toEqual([]);
  });

  it('shows a project watcher only that project: its history first, then live events', () => {
    const stream = new ProjectEventStream();
    stream.publish(...event('p1', 1));
    stream.publish(...event('p2', 1));
    stream.publish(...event('p1', 2));
    const watcher = collect(stream.project('p1'));
    expect(watcher.rounds()).toEqual([1, 2]);
    stream.publish(...event('p2', 3));
    stream.publish(...event('p1', 3));
    expect(watcher.rounds()).toEqual([1, 2, 3]);
    expect(watcher.seen.every((e) => e.event.projectId === 'p1')).toBe(true);
  });

  it('reads the history when watching starts, not when the observable is made', () => {
    const stream = new ProjectEventStream();
    const observable = stream.project('p1');
    stream.publish(...event('p1', 1));
    expect(collect(observable).rounds()).toEqual([1]);
  });

  it('resumes a project after the last event a watcher saw, or from the start if it is forgotten', () => {
    const stream = new ProjectEventStream();
    const ids = [1, 2, 3].map((round) => {
      const e = event('p1', round);
      stream.publish(...e);
      return e[0];
    });
    expect(collect(stream.project('p1', ids[0])).rounds()).toEqual([2, 3]);
    expect(collect(stream.project('p1', ids[2])).rounds()).toEqual([]);
    expect(collect(stream.project('p1', 'unknown')).rounds()).toEqual([1, 2, 3]);
  });

  it('keeps only the last events of each project', () => {
    const stream = new ProjectEventStream({ eventsPerProject: 3, projects: 10 });
    for (let round = 1; round <= 7; round++) stream.publish(...event('p1', round));
    stream.publish(...event('p2', 1));
    expect(collect(stream.project('p1')).rounds()).toEqual([5, 6, 7]);
    expect(stream.history('p2')).toHaveLength(1);
  });

  it('forgets the least recently active project past the project limit', () => {
    const stream = new ProjectEventStream({ eventsPerProject: 5, projects: 3 });
    stream.publish(...event('p1'));
    stream.publish(...event('p2'));
    stream.publish(...event('p3'));
    stream.publish(...event('p1')); // p1 is active again: p2 is now the oldest
    stream.publish(...event('p4'));
    expect(stream.projects()).toEqual(['p3', 'p1', 'p4']);
    expect(stream.history('p2')).toEqual([]);
    expect(stream.history('p1')).toHaveLength(2);
    for (let i = 0; i < 100; i++) stream.publish(...event(`many-${i}`));
    expect(stream.projects()).toEqual(['many-97', 'many-98', 'many-99']);
  });

  it('still sends live events of a forgotten project to its watchers', () => {
    const stream = new ProjectEventStream({ eventsPerProject: 5, projects: 1 });
    const watcher = collect(stream.project('p1'));
    stream.publish(...event('p1', 1));
    stream.publish(...event('p2', 1));
    stream.publish(...event('p1', 2));
    expect(watcher.rounds()).toEqual([1, 2]);
  });

  it('ignores a message delivered twice while its project remembers it', () => {
    const stream = new ProjectEventStream();
    const watcher = collect(stream.all());
    const e = event('p1');
    expect(stream.publish(...e)).toBe(true);
    expect(stream.publish(...e)).toBe(false);
    expect(watcher.seen).toHaveLength(1);
    expect(stream.history('p1')).toHaveLength(1);
  });

  it('carries any event type through unchanged', () => {
    const stream = new ProjectEventStream();
    const changed: ProjectEvent<'projectStateChanged'> = {
      projectId: 'p1',
      type: 'projectStateChanged',
      at: '2025-01-01T00:00:00.000Z',
      payload: { from: ProjectState.SUBMITTED, to: ProjectState.IMAGE_CHECK, version: 1, at: '2025-01-01T00:00:00.000Z' },
    };
    stream.publish('x', changed);
    expect(stream.history('p1')).toEqual([{ id: 'x', event: changed }]);
  });

  it('ends every watcher on close and ignores later events', () => {
    const stream = new ProjectEventStream();
    const all = collect(stream.all());
    const one = collect(stream.project('p1'));
    stream.close();
    expect(all.state.completed).toBe(true);
    expect(one.state.completed).toBe(true);
    expect(stream.publish(...event('p1'))).toBe(false);
    expect(all.seen).toEqual([]);
  });

  it('rejects limits below one', () => {
    expect(() => new ProjectEventStream({ eventsPerProject: 0, projects: 1 })).toThrow();
    expect(() => new ProjectEventStream({ eventsPerProject: 1, projects: 0 })).toThrow();
  });
});

describe('ProjectEventStream: replay bounded in bytes', () => {
  /** A state event with a reason of `size` characters. */
  function bulky(projectId: string, size: number): [string, ProjectEvent] {
    seq += 1;
    return [
      `m${seq}`,
      {
        projectId,
        type: 'projectStateChanged',
        at: new Date(Date.UTC(2025, 0, 1, 0, 0, seq)).toISOString(),
        payload: { from: ProjectState.TRAINING, to: ProjectState.FAILED, version: seq, at: new Date().toISOString(), reason: 'x'.repeat(size) },
      },
    ];
  }

  it('keeps at most `bytes` of events however many projects and events arrive, forgetting the oldest first', () => {
    const limits = { eventsPerProject: 200, projects: 1000, bytes: 100_000 };
    const stream = new ProjectEventStream(limits);
    const live = collect(stream.all());
    for (let i = 0; i < 300; i++) stream.publish(...bulky(`p${i % 7}`, 4_000));

    expect(live.seen).toHaveLength(300); // watchers get every event live
    expect(stream.retainedBytes()).toBeLessThanOrEqual(limits.bytes);
    const kept = stream.projects().flatMap((p) => stream.history(p));
    expect(kept.length).toBeGreaterThan(limits.bytes / 5_000 - 2);
    // the retained bytes are what the kept events take
    expect(stream.retainedBytes()).toBe(kept.reduce((n, e) => n + Buffer.byteLength(JSON.stringify(e.event)), 0));
    // and they are the newest ones
    const newest = Math.max(...kept.map((e) => Number(e.id.slice(1))));
    expect(Math.min(...kept.map((e) => Number(e.id.slice(1))))).toBe(newest - kept.length + 1);
  });

  it('keeps no history of an event larger than the whole budget, but still streams it', () => {
    const stream = new ProjectEventStream({ eventsPerProject: 10, projects: 10, bytes: 1_000 });
    const watcher = collect(stream.project('p1'));
    stream.publish(...bulky('p1', 5_000));
    expect(watcher.seen).toHaveLength(1);
    expect(stream.history('p1')).toEqual([]);
    expect(stream.retainedBytes()).toBe(0);
  });

  it('gives bytes back when events or projects are forgotten by count', () => {
    const stream = new ProjectEventStream({ eventsPerProject: 2, projects: 1, bytes: 1_000_000 });
    for (let i = 0; i < 5; i++) stream.publish(...bulky('p1', 100));
    stream.publish(...bulky('p2', 100));
    expect(stream.projects()).toEqual(['p2']);
    expect(stream.retainedBytes()).toBe(stream.history('p2').reduce((n, e) => n + Buffer.byteLength(JSON.stringify(e.event)), 0));
  });
});
