// The page's live state: the nodes, clusters and transfers it knows, kept
// current by the /ws event stream, and the event log.

import { get, token } from './api.js';

export const state = {
  nodes: new Map(),     // id -> Node
  clusters: [],         // GET /api/clusters
  plugins: [],          // PluginStatus
  status: null,         // StatusReport
  transfers: new Map(), // id -> TransferRecord (live ones and the ones seen)
  progress: new Map(),  // transfer id -> Map(node id -> {bytes_done, bytes_total})
  log: [],              // newest last, at most LOG_MAX events
  ws: 'off',
  wsProtocol: '',       // the subprotocol the daemon answered (castray.v1)
};

const LOG_MAX = 500;
const listeners = new Set();

// subscribe registers fn(event) for every event (and {type: 'ws_state'}
// and {type: 'refreshed'}); it returns the unsubscribe function.
export function subscribe(fn) { listeners.add(fn); return () => listeners.delete(fn); }

function emit(ev) {
  for (const fn of [...listeners]) {
    try { fn(ev); } catch (e) { console.warn('listener failed', e); }
  }
}

const transferEnd = new Set(['transfer_completed', 'transfer_partial', 'transfer_failed', 'transfer_cancelled', 'transfer_interrupted']);

function apply(ev) {
  const d = ev.data;
  switch (ev.type) {
    case 'snapshot':
      state.status = d.status;
      state.plugins = d.plugins || [];
      refresh();
      break;
    case 'status_update':
      state.status = d;
      break;
    case 'node_added': case 'node_updated': case 'node_dead':
      state.nodes.set(d.id, d);
      if (d.kind === 'ray-node') clustersSoon();
      break;
    case 'node_removed':
      state.nodes.delete(d.id);
      if (d.kind === 'ray-node') clustersSoon();
      break;
    case 'plugin_state': {
      const i = state.plugins.findIndex((p) => p.name === d.name);
      if (i >= 0) state.plugins[i] = d; else state.plugins.push(d);
      break;
    }
    case 'external_cluster_connected': case 'external_cluster_disconnected':
      refreshClusters();
      break;
    case 'transfer_started':
      state.transfers.set(d.id, d);
      state.progress.set(d.id, new Map());
      break;
    case 'transfer_progress': {
      let m = state.progress.get(d.transfer_id);
      if (!m) { m = new Map(); state.progress.set(d.transfer_id, m); }
      m.set(d.node_id, { bytes_done: d.bytes_done, bytes_total: d.bytes_total, backend: d.backend });
      const rec = state.transfers.get(d.transfer_id);
      if (rec && rec.state === 'pending') rec.state = 'running';
      break;
    }
    default:
      if (transferEnd.has(ev.type)) state.transfers.set(d.id, d);
  }
}

function push(ev) {
  state.log.push(ev);
  if (state.log.length > LOG_MAX) state.log.splice(0, state.log.length - LOG_MAX);
  apply(ev);
  emit(ev);
}

// refresh reloads the nodes and clusters (after a (re)connect: events that
// follow a snapshot may repeat what the lists show, never miss a change).
export async function refresh() {
  try {
    const [nodes, clusters] = await Promise.all([get('/api/nodes'), get('/api/clusters')]);
    state.nodes = new Map(nodes.nodes.map((n) => [n.id, n]));
    state.clusters = clusters.clusters;
    emit({ type: 'refreshed' });
  } catch (e) {
    console.warn('refresh failed:', e.message);
  }
}

export async function refreshClusters() {
  try {
    state.clusters = (await get('/api/clusters')).clusters;
    emit({ type: 'clusters' });
  } catch (e) {
    console.warn('clusters refresh failed:', e.message);
  }
}

// clustersSoon refreshes the cluster list (its node counts) once after a
// burst of Ray node events.
let clustersTimer = null;
function clustersSoon() {
  clearTimeout(clustersTimer);
  clustersTimer = setTimeout(refreshClusters, 300);
}

let ws = null;
let retry = 0;
let timer = null;
let stopped = false;

function setWS(s) { state.ws = s; emit({ type: 'ws_state', data: s }); }

// connect opens /ws, offering the token as the subprotocol
// castray.token.<token> beside castray.v1 (a browser cannot set headers on
// a WebSocket), and reconnects with backoff when it closes.
export function connect() {
  stopped = false;
  clearTimeout(timer);
  if (ws) { ws.onclose = null; ws.close(); }
  const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws';
  const protocols = ['castray.v1'];
  if (token()) protocols.push('castray.token.' + token());
  setWS('connecting');
  const sock = new WebSocket(url, protocols);
  ws = sock;
  sock.onopen = () => { retry = 0; state.wsProtocol = sock.protocol; setWS('on'); };
  sock.onmessage = (m) => {
    let ev;
    try { ev = JSON.parse(m.data); } catch { return; }
    push(ev);
  };
  sock.onclose = () => {
    if (ws !== sock) return;
    ws = null;
    setWS('off');
    if (stopped) return;
    const wait = Math.min(1000 * 2 ** retry, 15000);
    retry++;
    timer = setTimeout(connect, wait);
  };
}

export function disconnect() {
  stopped = true;
  clearTimeout(timer);
  if (ws) { const s = ws; ws = null; s.close(); }
  setWS('off');
}
