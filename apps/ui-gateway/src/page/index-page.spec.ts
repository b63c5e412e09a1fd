import { createHash } from 'node:crypto';
import { Script } from 'node:vm';
import { INDEX_PAGE, INDEX_PAGE_CSP } from './index-page.html';

function inline(tag: 'script' | 'style'): string {
  const found = [...INDEX_PAGE.matchAll(new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`, 'g'))].map((m) => m[1]);
  expect(found).toHaveLength(1);
  return found[0];
}

const sha256 = (text: string) => `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;

describe('index page', () => {
  it('allows exactly its own inline script and style', () => {
    expect(INDEX_PAGE_CSP).toContain(`script-src ${sha256(inline('script'))}`);
    expect(INDEX_PAGE_CSP).toContain(`style-src ${sha256(inline('style'))}`);
    expect(INDEX_PAGE_CSP).toContain("default-src 'none'");
  });

  it('is self-contained', () => {
    expect(INDEX_PAGE).not.toMatch(/\s(src|href)=/i);
    expect(INDEX_PAGE).not.toMatch(/https?:\/\//i);
    expect(INDEX_PAGE).not.toMatch(/@import|url\(/i);
  });

  it('has a script that parses and only writes text into the page', () => {
    const script = inline('script');
    expect(() => new Script(script)).not.toThrow();
    expect(script).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write/);
    expect(script).toContain("new EventSource(projectId ? 'projects/' + encodeURIComponent(projectId) + '/events' : 'events')");
  });
});

/** Just enough DOM for the page script, to run it without a browser. */
class FakeElement {
  children: FakeElement[] = [];
  parent?: FakeElement;
  textContent = '';
  className = '';
  value = '';
  type = '';
  title = '';
  dateTime = '';
  readonly dataset: Record<string, string> = {};
  readonly listeners = new Map<string, ((event: unknown) => void)[]>();

  constructor(readonly tagName: string) {}
  append(...nodes: FakeElement[]): void {
    for (const n of nodes) n.parent = this;
    this.children.push(...nodes);
  }
  prepend(...nodes: FakeElement[]): void {
    for (const n of nodes) n.parent = this;
    this.children.unshift(...nodes);
  }
  replaceChildren(): void {
    this.children = [];
  }
  remove(): void {
    if (this.parent) this.parent.children = this.parent.children.filter((c) => c !== this);
  }
  get lastElementChild(): FakeElement | undefined {
    return this.children[this.children.length - 1];
  }
  addEventListener(type: string, listener: (event: unknown) => void): void {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), listener]);
  }
  dispatch(type: string, event: unknown = { preventDefault: () => undefined }): void {
    for (const l of this.listeners.get(type) ?? []) l(event);
  }
  text(): string {
    return [this.textContent, ...this.children.map((c) => c.text())].filter(Boolean).join(' | ');
  }
}

class FakeEventSource {
  static readonly CLOSED = 2;
  static instances: FakeEventSource[] = [];
  readyState = 0;
  closed = false;
  onopen?: () => void;
  onerror?: () => void;
  onmessage?: (msg: { data: string; lastEventId: string }) => void;
  constructor(readonly url: string) {
    FakeEventSource.instances.push(this);
  }
  close(): void {
    this.closed = true;
    this.readyState = FakeEventSource.CLOSED;
  }
}

function runPage(hash = '') {
  FakeEventSource.instances = [];
  const ids = ['filter', 'project', 'status', 'hint', 'events', 'all', 'clear'];
  const byId = Object.fromEntries(ids.map((id) => [id, new FakeElement(id)]));
  const location = { hash, pathname: '/', search: '' };
  new Script(inline('script')).runInNewContext({
    document: { getElementById: (id: string) => byId[id], createElement: (tag: string) => new FakeElement(tag) },
    EventSource: FakeEventSource,
    location,
    history: { replaceState: (_s: unknown, _t: string, url: string) => (location.hash = url.startsWith('#') ? url : '') },
    window: { addEventListener: () => undefined },
  });
  const source = () => FakeEventSource.instances[FakeEventSource.instances.length - 1];
  const send = (id: string, event: object) => source().onmessage?.({ data: JSON.stringify(event), lastEventId: id });
  return { byId, location, source, send, rows: () => byId['events'].children };
}

describe('index page script', () => {
  const failed = {
    projectId: 'p-1',
    type: 'buildFailed',
    at: '2025-01-01T00:00:00.000Z',
    payload: { phase: 'fetch', reason: '<img src=x onerror=alert(1)>' },
  };

  it('watches all projects and lists their events newest first, as text', () => {
    const page = runPage();
    expect(page.source().url).toBe('events');
    page.source().onopen?.();
    expect(page.byId['status'].textContent).toBe('live');
    page.send('1', failed);
    page.send('2', { projectId: 'p-2', type: 'roundCompleted', at: failed.at, payload: { round: 2, learners: 3, samples: 90, durationMs: 1500, evalMetrics: { accuracy: 0.875 } } });
    const [newest, oldest] = page.rows();
    expect(newest.text()).toContain('round 2: 3 learner(s), 90 samples, 1.5 s; eval accuracy 0.8750');
    expect(oldest.className).toBe('bad');
    expect(oldest.text()).toContain('build failed at fetch: <img src=x onerror=alert(1)>');
    expect(oldest.text()).toContain('p-1');
  });

  it('shows an event replayed after a reconnect once', () => {
    const page = runPage();
    page.send('1', failed);
    page.send('1', failed);
    expect(page.rows()).toHaveLength(1);
  });

  it('watches one project (with its history) from the filter, the hash or a click on a project id', () => {
    const page = runPage('#project=p-1');
    expect(page.source().url).toBe('projects/p-1/events');
    expect(page.byId['project'].value).toBe('p-1');

    page.byId['project'].value = 'not a project!';
    page.byId['filter'].dispatch('submit');
    expect(FakeEventSource.instances).toHaveLength(1);
    expect(page.byId['hint'].textContent).toMatch(/project id is/);

    page.byId['all'].dispatch('click');
    expect(page.source().url).toBe('events');
    expect(FakeEventSource.instances[0].closed).toBe(true);
    expect(page.location.hash).toBe('');

    page.send('1', failed);
    const projectButton = page.rows()[0].children.find((c) => c.tagName === 'button');
    projectButton?.dispatch('click');
    expect(page.source().url).toBe('projects/p-1/events');
    expect(page.location.hash).toBe('#project=p-1');
    expect(page.rows()).toHaveLength(0);
  });
});
