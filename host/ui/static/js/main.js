// The single-page app: hash routes (#/<page>), the login prompt, the header
// (summary, live-stream state) and the shared details panel.

import { get, token, setToken, onUnauthorized } from './api.js';
import { state, subscribe, connect, disconnect, refresh } from './live.js';
import { clear } from './util.js';
import { hideDetails } from './details.js';
import clusters from './pages/clusters.js';
import nodes from './pages/nodes.js';
import topology from './pages/topology.js';
import files from './pages/files.js';
import transfers from './pages/transfers.js';
import history from './pages/history.js';
import distributions from './pages/distributions.js';
import generator from './pages/generator.js';
import plugins from './pages/plugins.js';
import events from './pages/events.js';

const pages = { clusters, nodes, topology, files, transfers, history, distributions, generator, plugins, events };
const DEFAULT = 'topology';

let current = null; // {name, page, cleanup}
let config = { auth_required: false, version: '' };

function route() {
  const m = location.hash.match(/^#\/([a-z-]+)(?:\/(.*))?$/);
  const name = m && pages[m[1]] ? m[1] : DEFAULT;
  const arg = m && m[2] ? decodeURIComponent(m[2]) : '';
  if (current && current.cleanup) current.cleanup();
  const view = document.getElementById('view');
  clear(view);
  for (const a of document.querySelectorAll('#nav a')) {
    if (a.getAttribute('href') === '#/' + name) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const page = pages[name];
  document.title = page.title + ' · CastRay';
  view.dataset.page = name;
  const cleanup = page.render(view, arg);
  current = { name, page, cleanup };
}

function summary() {
  const s = state.status;
  const el = document.getElementById('summary');
  if (!s) {
    el.textContent = config.version ? 'v' + config.version : '';
    return;
  }
  // Counted from the live node list, which node events move at once (the
  // status report comes every events.status_interval); the report's counts
  // until the list is loaded.
  let active = s.active_nodes;
  let total = s.total_nodes;
  if (state.nodes.size) {
    total = state.nodes.size;
    active = [...state.nodes.values()].filter((n) => n.state === 'active').length;
  }
  el.textContent = `${active}/${total} nodes active · v${s.version}`;
}

function wsState() {
  const el = document.getElementById('ws-state');
  const text = { on: 'live', off: 'offline', connecting: 'connecting…' }[state.ws] || state.ws;
  el.textContent = text;
  el.className = 'ws ws-' + state.ws;
  el.dataset.state = state.ws;
  el.dataset.protocol = state.wsProtocol || '';
  el.title = 'Live event stream (/ws)' + (state.wsProtocol ? ', subprotocol ' + state.wsProtocol : '');
}

function askToken(message) {
  const dlg = document.getElementById('login');
  document.getElementById('login-error').textContent = message || '';
  if (!dlg.open) dlg.showModal();
  document.getElementById('login-token').focus();
}

async function signIn(ev) {
  ev.preventDefault();
  const input = document.getElementById('login-token');
  const t = input.value.trim();
  if (!t) return;
  setToken(t);
  input.value = '';
  document.getElementById('login').close();
  start();
}

let started = false;
async function start() {
  document.getElementById('logout').hidden = !config.auth_required;
  // One call first: a wrong token is refused here (and the prompt comes
  // back) rather than by a WebSocket handshake, whose status a page cannot
  // see.
  try {
    state.status = await get('/api/status');
    summary();
  } catch (e) {
    if (e.status === 401) return;
    console.warn('status:', e.message);
  }
  connect();
  if (!started) {
    started = true;
    window.addEventListener('hashchange', route);
    route();
  } else {
    refresh();
    route();
  }
}

async function boot() {
  document.getElementById('details-close').addEventListener('click', hideDetails);
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && !document.getElementById('details').hidden) hideDetails();
  });
  document.getElementById('login-form').addEventListener('submit', signIn);
  document.getElementById('login').addEventListener('cancel', (e) => e.preventDefault());
  document.getElementById('logout').addEventListener('click', () => {
    setToken('');
    disconnect();
    askToken();
  });
  subscribe((ev) => {
    if (ev.type === 'ws_state') wsState();
    if (ev.type === 'snapshot' || ev.type === 'status_update' || ev.type === 'refreshed' || ev.type.startsWith('node_')) summary();
  });
  onUnauthorized(() => {
    setToken('');
    disconnect();
    askToken('The daemon refused the token. Enter it again.');
  });
  config = await (await fetch('/ui/config.json')).json();
  summary();
  if (config.auth_required && !token()) {
    askToken();
    return;
  }
  start();
}

boot();
