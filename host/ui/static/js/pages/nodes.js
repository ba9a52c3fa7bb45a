// Nodes: one table of local nodes, Ray nodes and actors, filtered by
// cluster, kind, state and label, with total and available resources. The
// table follows the node events live.

import { state, subscribe } from '../live.js';
import { h, clear, fill, badge, ago, time, table, resourceText } from '../util.js';
import { showNode } from './nodedetails.js';

const filters = { cluster: '', kind: '', state: '', label: '', text: '' };

function matches(n) {
  if (filters.cluster && (n.cluster_id || '(local)') !== filters.cluster) return false;
  if (filters.kind && n.kind !== filters.kind) return false;
  if (filters.state && n.state !== filters.state) return false;
  if (filters.label) {
    const [k, v] = filters.label.split('=').map((s) => s.trim());
    const labels = n.labels || {};
    if (!(k in labels)) return false;
    if (v !== undefined && v !== '' && labels[k] !== v) return false;
  }
  if (filters.text) {
    const t = filters.text.toLowerCase();
    if (!(n.id.toLowerCase().includes(t) || (n.name || '').toLowerCase().includes(t) || (n.hostname || '').toLowerCase().includes(t))) return false;
  }
  return true;
}

function select(id, label, key, options) {
  const s = h('select', { id, onchange: (e) => { filters[key] = e.target.value; redraw(); } },
    h('option', { value: '' }, 'any'), options.map((o) => h('option', { value: o, selected: filters[key] === o }, o)));
  return h('div', { class: 'field' }, h('label', { for: id }, label), s);
}

let redraw = () => {};

export default {
  title: 'Nodes',
  render(view) {
    const bar = h('form', { class: 'row', id: 'node-filters', onsubmit: (e) => e.preventDefault() });
    const body = h('div', {});
    const count = h('p', { class: 'muted', id: 'node-count', 'aria-live': 'polite' });
    view.append(h('h2', {}, 'Nodes'), bar, count, body);

    const drawFilters = () => {
      const clusters = new Set(['(local)', ...state.clusters.map((c) => c.id)]);
      for (const n of state.nodes.values()) if (n.cluster_id) clusters.add(n.cluster_id);
      fill(bar, 
        select('f-cluster', 'Cluster', 'cluster', [...clusters]),
        select('f-kind', 'Kind', 'kind', ['local', 'ray-node', 'ray-actor']),
        select('f-state', 'State', 'state', ['active', 'inactive', 'dead']),
        h('div', { class: 'field' }, h('label', { for: 'f-label' }, 'Label (key or key=value)'),
          h('input', { id: 'f-label', type: 'text', value: filters.label, oninput: (e) => { filters.label = e.target.value; redraw(); } })),
        h('div', { class: 'field' }, h('label', { for: 'f-text' }, 'Search id, name, host'),
          h('input', { id: 'f-text', type: 'search', value: filters.text, oninput: (e) => { filters.text = e.target.value; redraw(); } })));
    };

    redraw = () => {
      const all = [...state.nodes.values()].sort((a, b) => (a.cluster_id || '').localeCompare(b.cluster_id || '') || a.kind.localeCompare(b.kind) || a.id.localeCompare(b.id));
      const rows = all.filter(matches);
      count.textContent = `${rows.length} of ${all.length} nodes`;
      fill(body, table(['Id', 'Kind', 'State', 'Cluster', 'Host / address', 'Resources (total)', 'Available', 'Labels', 'Last seen'],
        rows.map((n) => h('tr', { 'data-node': n.id, 'data-kind': n.kind, 'data-state': n.state },
          h('td', {}, h('button', { type: 'button', class: 'linklike', onclick: () => showNode(n.id), 'aria-label': 'Details of ' + n.id }, h('code', {}, n.id)),
            n.name ? h('div', { class: 'muted' }, n.name) : null, n.is_head ? h('div', { class: 'muted' }, 'head') : null),
          h('td', {}, n.kind),
          h('td', {}, badge(n.state)),
          h('td', {}, n.cluster_id || '(local)'),
          h('td', {}, n.hostname || '', n.address ? h('div', { class: 'muted' }, n.address + (n.port ? ':' + n.port : '')) : null),
          h('td', {}, resourceText(n.resources)),
          h('td', {}, resourceText(n.available)),
          h('td', {}, Object.entries(n.labels || {}).map(([k, v]) => h('div', {}, h('code', {}, `${k}=${v}`)))),
          h('td', { title: time(n.last_seen) }, ago(n.last_seen)))),
        { id: 'nodes-table' }));
    };

    drawFilters();
    redraw();
    const unsub = subscribe((ev) => {
      if (ev.type.startsWith('node_') || ev.type === 'refreshed') redraw();
      if (ev.type === 'refreshed' || ev.type === 'clusters') drawFilters();
    });
    return unsub;
  },
};
