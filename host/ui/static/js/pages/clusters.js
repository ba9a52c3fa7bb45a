// Clusters: discover (per-strategy evidence), connect by address,
// disconnect, and the connections with their state, Ray version, last sync
// and errors.

import { get, post, del } from '../api.js';
import { state, subscribe, refreshClusters } from '../live.js';
import { h, clear, fill, badge, time, ago, table, toast, run, resourceText } from '../util.js';

// The last discovery of this page's session, kept across page switches.
let lastDiscovery = null;

function connectionsTable() {
  if (!state.clusters.length) return h('p', { class: 'muted', id: 'no-clusters' }, 'No cluster connected. Discover one, or connect by address.');
  return table(['Id', 'Address', 'Via', 'State', 'Ray', 'Nodes (alive)', 'Actors', 'Last sync', 'Reconnects', 'Last error', ''],
    state.clusters.map((c) => h('tr', { 'data-cluster': c.id, 'data-state': c.state },
      h('td', {}, h('code', {}, c.id)),
      h('td', {}, c.address, c.dashboard_url && c.dashboard_url !== c.address ? h('div', { class: 'muted' }, 'dashboard ' + c.dashboard_url) : null,
        c.gcs_address ? h('div', { class: 'muted' }, 'GCS ' + c.gcs_address) : null),
      h('td', {}, c.via),
      h('td', { class: 'cluster-state' }, badge(c.state)),
      h('td', { class: 'ray-version' }, c.ray_version || '–'),
      h('td', { class: 'num' }, `${c.nodes} (${c.alive_nodes})`),
      h('td', { class: 'num' }, c.actors),
      h('td', { title: time(c.last_sync) }, ago(c.last_sync)),
      h('td', { class: 'num' }, c.reconnects),
      h('td', { class: 'error' }, c.last_error || ''),
      h('td', {}, h('button', { type: 'button', class: 'danger', 'aria-label': 'Disconnect ' + c.id, onclick: () => disconnectCluster(c.id) }, 'Disconnect')))),
    { id: 'connections' });
}

async function disconnectCluster(id) {
  const r = await run(() => del('/api/cluster/disconnect-external', { cluster_id: id }));
  if (r) { toast(r.message); refreshClusters(); }
}

async function connectTo(address, out) {
  fill(out, h('p', { class: 'muted' }, 'Connecting to ' + address + '…'));
  try {
    const r = await post('/api/cluster/connect-external', { cluster_address: address });
    fill(out, h('p', { class: 'ok', id: 'connect-result' }, r.message));
    refreshClusters();
  } catch (e) {
    fill(out, h('div', { class: 'error', id: 'connect-result', role: 'alert' }, e.message,
      e.body && e.body.attempts ? h('ul', {}, e.body.attempts.map((a) => h('li', {}, JSON.stringify(a)))) : null));
  }
}

function discoveryView(res, out) {
  clear(out);
  if (!res) return;
  const d = res.discovery || {};
  out.append(h('p', { class: 'muted' }, `Round ${d.id || ''} took ${d.duration_ms ?? '?'} ms and found ${res.discovered_clusters.length} cluster(s).`));
  if (res.discovered_clusters.length) {
    out.append(table(['Cluster', 'Status', 'Ray', 'Nodes', 'Resources', 'Addresses', 'Evidence by strategy', ''],
      res.discovered_clusters.map((c) => h('tr', { 'data-discovered': c.id, 'data-session': c.session_name || '' },
        h('td', {}, h('code', {}, c.id), c.session_name ? h('div', { class: 'muted' }, c.session_name) : null),
        h('td', {}, badge(c.status), c.auth_required ? h('div', { class: 'error' }, 'token required') : null),
        h('td', {}, c.ray_version || '–'),
        h('td', { class: 'num' }, c.nodes),
        h('td', {}, resourceText(c.resources)),
        h('td', {}, c.dashboard_url ? h('div', {}, 'dashboard ', h('code', {}, c.dashboard_url)) : null,
          c.gcs_address ? h('div', {}, 'GCS ', h('code', {}, c.gcs_address)) : null),
        h('td', {}, (c.evidence || []).map((e) => h('details', { class: 'evidence-source', 'data-source': e.source },
          h('summary', {}, `${e.source}: ${e.status}, ${e.elapsed_ms} ms`),
          h('ul', { class: 'evidence' }, (e.evidence || []).map((x) => h('li', {}, x)))))),
        h('td', {}, (c.dashboard_url || c.gcs_address) && c.status === 'active'
          ? h('button', { type: 'button', class: 'primary', 'aria-label': 'Connect ' + c.id, onclick: (ev) => connectTo(c.dashboard_url || c.gcs_address, ev.target.closest('section').querySelector('.connect-out')) }, 'Connect')
          : null))),
      { id: 'discovered' }));
  }
  const runs = Object.values(d.plugins || {});
  if (runs.length) {
    out.append(h('h3', {}, 'Strategies'), table(['Plugin', 'Duration', 'Candidates', 'Probes', 'Error', 'Notes'],
      runs.map((p) => h('tr', { 'data-plugin': p.name },
        h('td', {}, p.name), h('td', { class: 'num' }, p.duration_ms + ' ms'), h('td', { class: 'num' }, p.candidates),
        h('td', { class: 'num' }, p.probes), h('td', { class: 'error' }, [p.error, ...(p.errors || [])].filter(Boolean).join('; ')),
        h('td', {}, (p.notes || []).map((n) => h('div', {}, `${n.level}: ${n.message}`))))),
      { id: 'strategies' }));
  }
}

export default {
  title: 'Clusters',
  render(view) {
    const conns = h('div', {});
    const discOut = h('div', { id: 'discovery-out' });
    const connOut = h('div', { class: 'connect-out', 'aria-live': 'polite' });
    const connectBox = h('input', { type: 'checkbox', id: 'discover-connect' });
    const discoverBtn = h('button', { type: 'submit', class: 'primary', id: 'discover' }, 'Discover');
    const addr = h('input', { id: 'connect-address', type: 'text', size: 40, placeholder: '127.0.0.1:8265, http://host:8265, ray://host:10001', required: true });

    view.append(h('h2', {}, 'Clusters'),
      h('section', { class: 'card' }, h('h3', {}, 'Connected clusters'), conns),
      h('section', { class: 'card' }, h('h3', {}, 'Discover'),
        h('form', { class: 'row', onsubmit: async (e) => {
          e.preventDefault();
          discoverBtn.disabled = true;
          fill(discOut, h('p', { class: 'muted' }, 'Discovering…'));
          const res = await run(() => post('/api/cluster/discover-external', { connect: connectBox.checked }));
          discoverBtn.disabled = false;
          if (res) { lastDiscovery = res; discoveryView(res, discOut); refreshClusters(); } else clear(discOut);
        } },
        h('label', {}, connectBox, ' connect to every active cluster found'), discoverBtn),
        discOut, connOut),
      h('section', { class: 'card' }, h('h3', {}, 'Connect by address'),
        h('form', { class: 'row', onsubmit: (e) => { e.preventDefault(); if (addr.value.trim()) connectTo(addr.value.trim(), connOut2); } },
          h('div', { class: 'field' }, h('label', { for: 'connect-address' }, 'Cluster address'), addr),
          h('button', { type: 'submit', class: 'primary', id: 'connect' }, 'Connect'))));
    const connOut2 = h('div', { class: 'connect-out', 'aria-live': 'polite' });
    view.lastChild.append(connOut2);

    const draw = () => fill(conns, connectionsTable());
    draw();
    discoveryView(lastDiscovery, discOut);
    refreshClusters();
    const unsub = subscribe((ev) => {
      if (ev.type === 'clusters' || ev.type === 'refreshed') draw();
      if (ev.type === 'status_update') refreshClusters();
    });
    return unsub;
  },
};
