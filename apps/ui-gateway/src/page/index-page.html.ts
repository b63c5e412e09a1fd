import { createHash } from 'node:crypto';

/**
 * The gateway's one page: project events, live, for all projects or one. Self-contained (no build
 * step, no external assets). Event text only ever reaches the page through `textContent`, so
 * whatever a message carries is shown as text, never interpreted as HTML.
 */

const STYLE = `
  :root { color-scheme: light dark; --muted: #777; --good: #1a7f37; --bad: #cf222e; }
  body { font: 14px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 72rem; padding: 1rem; }
  header { display: flex; flex-wrap: wrap; align-items: baseline; gap: 0.5rem 1rem; }
  h1 { font-size: 1.25rem; margin: 0; }
  form { display: flex; gap: 0.5rem; flex-wrap: wrap; }
  input { font: inherit; font-family: ui-monospace, monospace; width: 22rem; max-width: 60vw; }
  #status { font-size: 0.85rem; padding: 0 0.4rem; border-radius: 0.3rem; background: #8884; }
  #status[data-state="live"] { background: var(--good); color: #fff; }
  #status[data-state="down"] { background: var(--bad); color: #fff; }
  #hint { color: var(--muted); margin: 0.5rem 0; }
  ol { list-style: none; padding: 0; margin: 0; }
  li { display: grid; grid-template-columns: 11rem 14rem 10rem 1fr; gap: 0 0.75rem; padding: 0.3rem 0; border-top: 1px solid #8883; }
  li.good .type { color: var(--good); }
  li.bad .type { color: var(--bad); }
  time { color: var(--muted); font-variant-numeric: tabular-nums; }
  .project { font: inherit; font-family: ui-monospace, monospace; background: none; border: 0; padding: 0; color: inherit; text-align: left; cursor: pointer; text-decoration: underline dotted; overflow-wrap: anywhere; }
  .type { font-weight: 600; }
  .summary { overflow-wrap: anywhere; white-space: pre-wrap; }
  details { grid-column: 2 / -1; }
  summary { color: var(--muted); cursor: pointer; font-size: 0.85rem; }
  pre { margin: 0.25rem 0; font-size: 0.8rem; overflow-x: auto; white-space: pre-wrap; overflow-wrap: anywhere; }
  @media (max-width: 50rem) { li { grid-template-columns: 1fr; } details { grid-column: 1; } }
`;

const SCRIPT = `
(function () {
  'use strict';
  var PROJECT_ID = /^[A-Za-z0-9_-]{1,64}$/;
  var MAX_ROWS = 500;
  var form = document.getElementById('filter');
  var input = document.getElementById('project');
  var status = document.getElementById('status');
  var hint = document.getElementById('hint');
  var list = document.getElementById('events');
  var source = null;
  var seen = new Set();

  function el(tag, text, className) {
    var node = document.createElement(tag);
    node.textContent = text;
    if (className) node.className = className;
    return node;
  }

  function setStatus(text, state) {
    status.textContent = text;
    status.dataset.state = state;
  }

  function metrics(m) {
    return Object.keys(m || {}).map(function (k) {
      var v = m[k];
      return k + ' ' + (Number.isInteger(v) ? String(v) : Number(v).toFixed(4));
    }).join(', ');
  }

  function summarize(e) {
    var p = e.payload || {};
    switch (e.type) {
      case 'projectStateChanged': return p.from + ' → ' + p.to + (p.reason ? ' (' + p.reason + ')' : '');
      case 'buildStarted': return 'building ' + p.image;
      case 'buildSucceeded': return (p.cacheHit ? 'image found: ' : 'image built: ') + p.image;
      case 'buildFailed': return 'build failed at ' + p.phase + ': ' + p.reason;
      case 'trainingStarted': return 'started with ' + (p.learners || []).length + ' learner(s)';
      case 'roundCompleted':
        return 'round ' + p.round + ': ' + p.learners + ' learner(s), ' + p.samples + ' samples, ' +
          (Number(p.durationMs) / 1000).toFixed(1) + ' s; eval ' + (metrics(p.evalMetrics) || '-');
      case 'trainingCompleted': return 'done after ' + p.rounds + ' round(s): ' + (metrics(p.finalMetrics) || '-');
      case 'trainingFailed': return 'training failed: ' + p.reason;
      default: return '';
    }
  }

  function tone(e) {
    if (/Failed$/.test(e.type) || (e.type === 'projectStateChanged' && e.payload && e.payload.to === 'FAILED')) return 'bad';
    if (/(Succeeded|Completed)$/.test(e.type) || (e.type === 'projectStateChanged' && e.payload && e.payload.to === 'COMPLETED')) return 'good';
    return '';
  }

  function show(e) {
    var row = document.createElement('li');
    row.className = tone(e);
    var when = new Date(e.at);
    var time = el('time', isNaN(when.getTime()) ? String(e.at) : when.toLocaleString());
    time.dateTime = String(e.at);
    var project = el('button', String(e.projectId), 'project');
    project.type = 'button';
    project.title = 'Show only this project, with its recent history';
    project.addEventListener('click', function () { watch(String(e.projectId)); });
    var details = document.createElement('details');
    details.append(el('summary', 'payload'), el('pre', JSON.stringify(e.payload, null, 2)));
    row.append(time, project, el('span', String(e.type), 'type'), el('span', summarize(e), 'summary'), details);
    list.prepend(row);
    while (list.children.length > MAX_ROWS) list.lastElementChild.remove();
  }

  function connect(projectId) {
    if (source) source.close();
    list.replaceChildren();
    seen = new Set();
    input.value = projectId;
    hint.textContent = projectId
      ? 'Project ' + projectId + ': its recent events, then live ones. Newest first.'
      : 'All projects, live from now on. Newest first. Enter a project id to see its recent history too.';
    setStatus('connecting…', 'connecting');
    source = new EventSource(projectId ? 'projects/' + encodeURIComponent(projectId) + '/events' : 'events');
    var current = source;
    current.onopen = function () { setStatus('live', 'live'); };
    current.onerror = function () {
      setStatus(current.readyState === EventSource.CLOSED ? 'disconnected (reload to retry)' : 'reconnecting…', 'down');
    };
    current.onmessage = function (msg) {
      if (msg.lastEventId) {
        if (seen.has(msg.lastEventId)) return; // replayed again after a reconnect
        seen.add(msg.lastEventId);
        if (seen.size > 4 * MAX_ROWS) seen = new Set(Array.from(seen).slice(-2 * MAX_ROWS));
      }
      var e;
      try { e = JSON.parse(msg.data); } catch (err) { return; }
      if (e && typeof e === 'object') show(e);
    };
  }

  function projectInHash() {
    var m = /^#project=(.*)$/.exec(location.hash);
    if (!m) return '';
    try { var id = decodeURIComponent(m[1]); return PROJECT_ID.test(id) ? id : ''; } catch (err) { return ''; }
  }

  function watch(projectId) {
    history.replaceState(null, '', projectId ? '#project=' + encodeURIComponent(projectId) : location.pathname + location.search);
    connect(projectId);
  }

  form.addEventListener('submit', function (ev) {
    ev.preventDefault();
    var id = input.value.trim();
    if (id && !PROJECT_ID.test(id)) { hint.textContent = 'A project id is 1-64 letters, digits, "_" or "-".'; return; }
    watch(id);
  });
  document.getElementById('all').addEventListener('click', function () { watch(''); });
  document.getElementById('clear').addEventListener('click', function () { list.replaceChildren(); });
  window.addEventListener('hashchange', function () { connect(projectInHash()); });
  connect(projectInHash());
})();
`;

const hash = (text: string) => `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;

/** Only this page's own script and style may run; it may only talk to this origin. */
export const INDEX_PAGE_CSP = [
  "default-src 'none'",
  `script-src ${hash(SCRIPT)}`,
  `style-src ${hash(STYLE)}`,
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

export const INDEX_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>FLOps: project events</title>
<style>${STYLE}</style>
</head>
<body>
<header>
  <h1>FLOps project events</h1>
  <span id="status" role="status">starting…</span>
  <form id="filter" autocomplete="off">
    <label for="project">Project id</label>
    <input id="project" name="project" placeholder="all projects" pattern="[A-Za-z0-9_-]{1,64}" spellcheck="false">
    <button type="submit">Watch</button>
    <button type="button" id="all">All projects</button>
    <button type="button" id="clear">Clear list</button>
  </form>
</header>
<p id="hint"></p>
<ol id="events" role="log"></ol>
<noscript>This page needs JavaScript to show events. The raw streams are at /events and /projects/&lt;id&gt;/events.</noscript>
<script>${SCRIPT}</script>
</body>
</html>
`;
