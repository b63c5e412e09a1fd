import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BuildRequested, Envelope, Topics, createMessage } from '@flops/contracts';
import { FileBuildJournal } from './build-journal';

function aRequest(projectId: string): Envelope<BuildRequested> {
  return createMessage(Topics.buildRequested, projectId, { repoUrl: 'https://git.example/org/digits.git', imageRepository: 'flops/learners/digits' }).message;
}

describe('FileBuildJournal (issue 5, case 1: in-flight builds survive a builder crash)', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'flops-journal-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps begun builds across instances (a restart) until they are answered, counting attempts', () => {
    const first = aRequest('p1');
    const second = aRequest('p2');
    const before = new FileBuildJournal(dir);
    expect(before.begin(first)).toBe(1);
    expect(before.begin(second)).toBe(1);
    before.done(second.messageId);

    const after = new FileBuildJournal(dir); // the restarted builder
    expect(after.pending()).toEqual([{ request: first, attempts: 1 }]);
    expect(after.begin(first)).toBe(2);
    after.done(first.messageId);
    expect(new FileBuildJournal(dir).pending()).toEqual([]);
  });

  it('skips an entry that was never written completely', () => {
    const journal = new FileBuildJournal(dir);
    journal.begin(aRequest('p1'));
    writeFileSync(join(dir, 'broken.json'), '{"request": ');
    expect(journal.pending().map((b) => b.request.projectId)).toEqual(['p1']);
  });
});
