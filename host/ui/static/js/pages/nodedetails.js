// The details of one node (or cluster) in the shared side panel.

import { state } from '../live.js';
import { h, badge, time, resourceText, bytes } from '../util.js';
import { showDetails } from '../details.js';

function resTable(n) {
  const keys = new Set([...Object.keys(n.resources || {}), ...Object.keys(n.available || {})]);
  if (!keys.size) return null;
  const fmt = (k, v) => v === undefined ? '–' : (k === 'memory' || k === 'object_store_memory') ? bytes(v) : String(+v.toFixed(3));
  return h('table', { class: 'resources' },
    h('thead', {}, h('tr', {}, h('th', {}, 'Resource'), h('th', { class: 'num' }, 'Total'), h('th', { class: 'num' }, 'Available'))),
    h('tbody', {}, [...keys].sort().map((k) => h('tr', {}, h('td', {}, k),
      h('td', { class: 'num' }, fmt(k, (n.resources || {})[k])), h('td', { class: 'num' }, fmt(k, (n.available || {})[k]))))));
}

export function showNode(id, focus = true) {
  const n = state.nodes.get(id);
  if (!n) return;
  const title = n.kind === 'ray-node' ? `Ray ${n.is_head ? 'head' : 'worker'} node ${n.id.split(':').pop().slice(0, 8)}`
    : n.kind === 'ray-actor' ? `Actor ${n.name || (n.labels && n.labels.class_name) || ''}` : `Local node ${n.id}`;
  showDetails(title, [
    ['Id', h('code', { id: 'details-node-id' }, n.id)],
    ['Kind', n.kind],
    ['State', h('span', { id: 'details-node-state' }, badge(n.state))],
    ['Name', n.name],
    ['Cluster', n.cluster_id],
    ['Head', n.is_head ? 'yes' : ''],
    ['Hostname', n.hostname],
    ['Address', n.address ? n.address + (n.port ? ':' + n.port : '') : ''],
    ['Inbox', n.inbox_dir],
    ['Source', n.source],
    ['Resources', resourceText(n.resources)],
    ['Created', time(n.created_at)],
    ['Last seen', time(n.last_seen)],
  ], h('div', {},
    resTable(n),
    Object.keys(n.labels || {}).length ? h('div', {}, h('h3', {}, 'Labels'),
      h('ul', {}, Object.entries(n.labels).map(([k, v]) => h('li', {}, h('code', {}, `${k}=${v}`))))) : null), focus);
}

export function showCluster(id) {
  const c = state.clusters.find((x) => x.id === id);
  if (!c) return;
  showDetails('Cluster ' + c.id, [
    ['Id', h('code', {}, c.id)],
    ['State', badge(c.state)],
    ['Address', c.address],
    ['Via', c.via],
    ['Ray version', c.ray_version],
    ['Dashboard', c.dashboard_url],
    ['GCS', c.gcs_address],
    ['Session', c.session_name],
    ['Nodes', `${c.nodes} (${c.alive_nodes} alive)`],
    ['Actors', String(c.actors)],
    ['Connected', time(c.connected_at)],
    ['Last sync', time(c.last_sync)],
    ['Last error', c.last_error],
  ]);
}
