import { Logger } from '@nestjs/common';
import { withProject } from '@flops/messaging';
import { runChecks } from './health.controller';
import { setUpLogging } from './logging';

describe('FLOPS_LOG_FORMAT=json', () => {
  let lines: string[];
  let write: jest.SpyInstance;

  beforeEach(() => {
    lines = [];
    const capture = (chunk: string | Uint8Array): boolean => {
      lines.push(String(chunk));
      return true;
    };
    write = jest.spyOn(process.stdout, 'write').mockImplementation(capture);
    jest.spyOn(process.stderr, 'write').mockImplementation(capture);
  });

  afterEach(() => jest.restoreAllMocks());

  it('writes one JSON object per line, with the project id of the work being logged', async () => {
    setUpLogging({ format: 'json', level: 'log' });
    const logger = new Logger('Lifecycle');
    logger.log('no project here');
    await withProject('p0123', async () => {
      await Promise.resolve();
      logger.warn('deadline passed');
    });
    logger.debug('below the level');
    expect(write).toHaveBeenCalled();
    const entries = lines.join('').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(entries).toEqual([
      expect.objectContaining({ level: 'log', context: 'Lifecycle', message: 'no project here' }),
      expect.objectContaining({ level: 'warn', context: 'Lifecycle', message: 'deadline passed', projectId: 'p0123' }),
    ]);
    expect(entries[0]).not.toHaveProperty('projectId');
  });

  it('names the process’s own project in a per-project component', () => {
    setUpLogging({ format: 'json', level: 'log', projectId: 'p9' });
    new Logger('learner').log('ready');
    expect(JSON.parse(lines.join('').trim())).toMatchObject({ message: 'ready', projectId: 'p9' });
  });

  it('text format stays plain text', () => {
    setUpLogging({ format: 'text', level: 'log' });
    new Logger('x').log('hello');
    expect(lines.join('')).toContain('hello');
    expect(() => JSON.parse(lines.join('').trim())).toThrow();
  });
});

describe('readiness checks', () => {
  it('is ready only when every check answers, and names the one that did not (a hang counts as down)', async () => {
    const report = await runChecks(
      [
        { name: 'database', check: async () => undefined },
        { name: 'broker', check: async () => Promise.reject(new Error('not connected to the broker')) },
        { name: 'registry', check: () => new Promise(() => undefined) },
      ],
      200,
    );
    expect(report.status).toBe('unready');
    expect(report.checks.database.status).toBe('up');
    expect(report.checks.broker).toMatchObject({ status: 'down', error: 'not connected to the broker' });
    expect(report.checks.registry).toMatchObject({ status: 'down', error: 'no answer within 200 ms' });
    expect((await runChecks([{ name: 'database', check: async () => undefined }])).status).toBe('ready');
  });
});
