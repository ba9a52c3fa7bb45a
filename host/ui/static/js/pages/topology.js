// Topology: daemon -> clusters -> nodes -> actors as a layered graph in
// SVG, redrawn from the live state on every node or cluster event (nodes
// appear, turn dead and vanish without a reload). Colour is the state,
// circle size the node's CPUs, the second label line its resources. Click a
// vertex (or focus it and press Enter) for its details.

import { state, subscribe } from '../live.js';
import { h, clear, resourceText } from '../util.js';
import { showNode, showCluster } from './nodedetails.js';

const ROW = 44;
const X = { daemon: 24, group: 200, node: 500, actor: 820 };
const WIDTH = 1120;
const LOCAL = '(local)';

function nodeLabel(n) {
  if (n.kind === 'ray-node') {
    const hex = n.id.split(':').pop();
    return `${n.is_head ? 'head' : 'worker'} ${hex.slice(0, 8)}`;
  }
  if (n.kind === 'ray-actor') return n.name || (n.labels && n.labels.class_name) || n.id.split(':').pop().slice(0, 8);
  return n.name || n.id;
}

function shortRes(n) {
  const r = n.resources || {};
  const parts = [];
  if (r.CPU !== undefined) parts.push(`CPU ${+r.CPU.toFixed(2)}${n.available && n.available.CPU !== undefined ? ` (${+n.available.CPU.toFixed(2)} free)` : ''}`);
  if (r.GPU) parts.push(`GPU ${r.GPU}`);
  if (r.memory) parts.push(resourceText({ memory: r.memory }));
  if (!parts.length) return n.kind === 'local' ? 'local inbox' : '';
  return parts.join(' · ');
}

// layout places every vertex: one row per leaf (an actor, or a node
// without actors), a parent centred on its children.
function layout() {
  const groups = new Map(); // group id -> {nodes: [], orphans: []}
  const group = (id) => {
    if (!groups.has(id)) groups.set(id, { id, nodes: [], orphans: [] });
    return groups.get(id);
  };
  for (const c of state.clusters) group(c.id);
  const nodes = [...state.nodes.values()];
  const byRayID = new Map();
  for (const n of nodes) {
    if (n.kind === 'ray-actor') continue;
    const g = group(n.cluster_id || LOCAL);
    const v = { n, actors: [] };
    g.nodes.push(v);
    if (n.kind === 'ray-node') byRayID.set(n.cluster_id + ':' + n.id.split(':').pop(), v);
  }
  for (const a of nodes) {
    if (a.kind !== 'ray-actor') continue;
    const host = a.labels && a.labels.ray_node_id ? byRayID.get(a.cluster_id + ':' + a.labels.ray_node_id) : null;
    if (host) host.actors.push(a); else group(a.cluster_id || LOCAL).orphans.push(a);
  }
  const sortNodes = (a, b) => (b.n.is_head === true) - (a.n.is_head === true) || a.n.id.localeCompare(b.n.id);
  const vertices = [];
  const edges = [];
  let row = 0;
  const ordered = [...groups.values()].sort((a, b) => (a.id === LOCAL) - (b.id === LOCAL) || a.id.localeCompare(b.id));
  for (const g of ordered) {
    const first = row;
    const kids = [];
    g.nodes.sort(sortNodes);
    for (const v of g.nodes) {
      const start = row;
      const actorPos = [];
      for (const a of v.actors.sort((x, y) => x.id.localeCompare(y.id))) {
        actorPos.push({ a, y: row });
        row++;
      }
      if (!v.actors.length) row++;
      const y = (start + row - 1) / 2;
      vertices.push({ kind: v.n.kind, id: v.n.id, state: v.n.state, x: X.node, y, label: nodeLabel(v.n), sub: shortRes(v.n), node: v.n });
      kids.push(y);
      for (const p of actorPos) {
        vertices.push({ kind: 'ray-actor', id: p.a.id, state: p.a.state, x: X.actor, y: p.y, label: nodeLabel(p.a), sub: (p.a.labels && p.a.labels.class_name) || '', node: p.a, host: v.n.id });
        edges.push([X.node, y, X.actor, p.y]);
      }
    }
    for (const a of g.orphans) {
      vertices.push({ kind: 'ray-actor', id: a.id, state: a.state, x: X.actor, y: row, label: nodeLabel(a), sub: 'node unknown', node: a });
      kids.push(row);
      row++;
    }
    if (row === first) row++; // a cluster with nothing in it yet
    const gy = (first + row - 1) / 2;
    const c = state.clusters.find((x) => x.id === g.id);
    vertices.push({
      kind: g.id === LOCAL ? 'group' : 'cluster', id: g.id, state: c ? c.state : (g.id === LOCAL ? 'local' : 'unknown'), x: X.group, y: gy,
      label: g.id === LOCAL ? 'local nodes' : g.id,
      sub: c ? `${c.state}${c.ray_version ? ' · Ray ' + c.ray_version : ''} · ${c.alive_nodes}/${c.nodes} alive` : '',
    });
    edges.push([X.daemon, -1, X.group, gy]);
    for (const y of kids) edges.push([X.group, gy, X.node, y]);
  }
  const daemonY = row ? (row - 1) / 2 : 0;
  for (const e of edges) if (e[1] === -1) e[1] = daemonY;
  vertices.push({ kind: 'daemon', id: 'daemon', state: 'active', x: X.daemon, y: daemonY, label: 'castray', sub: state.status ? 'v' + state.status.version : '' });
  return { vertices, edges, rows: Math.max(row, 1) };
}

function radius(v) {
  if (v.kind === 'ray-actor') return 6;
  const cpu = v.node && v.node.resources && v.node.resources.CPU;
  return 8 + Math.min(cpu || 0, 8) * 1.5;
}

function draw(svg, selected) {
  const { vertices, edges, rows } = layout();
  const height = rows * ROW + 30;
  svg.setAttribute('viewBox', `0 0 ${WIDTH} ${height}`);
  svg.setAttribute('width', WIDTH);
  svg.setAttribute('height', height);
  const py = (y) => 20 + y * ROW + ROW / 2;
  const focused = document.activeElement && document.activeElement.closest && document.activeElement.closest('.vertex');
  const focusID = focused ? focused.dataset.id : null;
  clear(svg);
  const g = h('svg:g', {});
  // An edge leaves its parent after the parent's labels (estimated from
  // their length) so that it never crosses them.
  const textEnd = new Map(vertices.map((v) => [`${v.x},${v.y}`,
    v.x + 18 + Math.max(v.label.length * 7, (v.sub || '').length * 6.2) + 8]));
  for (const [x1, y1, x2, y2] of edges) {
    const a = py(y1), b = py(y2);
    const sx = Math.min(textEnd.get(`${x1},${y1}`) || x1 + 12, x2 - 40);
    const mx = (sx + x2) / 2;
    g.append(h('svg:path', { class: 'edge', d: `M${sx},${a} C${mx},${a} ${mx},${b} ${x2 - 12},${b}` }));
  }
  for (const v of vertices) {
    const y = py(v.y);
    const isBox = v.kind === 'daemon' || v.kind === 'cluster' || v.kind === 'group';
    const shape = isBox
      ? h('svg:rect', { x: v.x - 10, y: y - 10, width: 20, height: 20, rx: 4 })
      : h('svg:circle', { cx: v.x, cy: y, r: radius(v) });
    const label = `${v.kind} ${v.label}, ${v.state}${v.sub ? ', ' + v.sub : ''}`;
    const el = h('svg:g', {
      class: `vertex kind-${v.kind} state-${v.state}${v.id === selected ? ' selected' : ''}`,
      'data-id': v.id, 'data-kind': v.kind, 'data-state': v.state, 'data-host': v.host || null,
      tabindex: 0, role: 'button', 'aria-label': label,
    },
    h('svg:title', {}, v.id),
    shape,
    h('svg:text', { x: v.x + 18, y: y - 2 }, v.label),
    v.sub ? h('svg:text', { class: 'sub', x: v.x + 18, y: y + 12 }, v.sub) : null);
    g.append(el);
  }
  svg.append(g);
  if (focusID) {
    const again = svg.querySelector(`.vertex[data-id="${CSS.escape(focusID)}"]`);
    if (again) again.focus();
  }
}

export default {
  title: 'Topology',
  render(view) {
    let selected = null;
    const svg = h('svg:svg', { class: 'topology', id: 'topology', role: 'group', 'aria-label': 'Topology: daemon, clusters, nodes, actors' });
    const counts = h('p', { class: 'muted', id: 'topology-counts', 'aria-live': 'polite' });
    view.append(h('h2', {}, 'Topology'),
      h('div', { class: 'legend' },
        h('span', {}, h('span', { class: 'dot active' }), 'active'),
        h('span', {}, h('span', { class: 'dot inactive' }), 'inactive / disconnected'),
        h('span', {}, h('span', { class: 'dot dead' }), 'dead'),
        h('span', {}, 'square: daemon / cluster · circle: node (size: CPUs) · dashed: actor')),
      counts,
      h('div', { class: 'graph-wrap' }, svg));
    const open = (el) => {
      if (!el) return;
      selected = el.dataset.id;
      for (const x of svg.querySelectorAll('.vertex.selected')) x.classList.remove('selected');
      el.classList.add('selected');
      if (el.dataset.kind === 'cluster') showCluster(selected);
      else if (el.dataset.kind !== 'daemon' && el.dataset.kind !== 'group') showNode(selected);
    };
    svg.addEventListener('click', (e) => open(e.target.closest('.vertex')));
    svg.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); open(e.target.closest('.vertex')); }
    });
    let pending = false;
    const redraw = () => {
      if (pending) return;
      pending = true;
      requestAnimationFrame(() => {
        pending = false;
        draw(svg, selected);
        const all = [...state.nodes.values()];
        const k = (kind) => all.filter((n) => n.kind === kind).length;
        counts.textContent = `${state.clusters.length} cluster(s) · ${k('ray-node')} Ray node(s) · ${k('ray-actor')} actor(s) · ${k('local')} local node(s) · ${all.filter((n) => n.state === 'dead').length} dead`;
      });
    };
    redraw();
    return subscribe((ev) => {
      if (ev.type.startsWith('node_') || ev.type === 'refreshed' || ev.type === 'clusters' || ev.type === 'snapshot') redraw();
      if (selected && ev.type.startsWith('node_') && ev.data && ev.data.id === selected && !document.getElementById('details').hidden) {
        if (state.nodes.has(selected)) showNode(selected, false);
      }
    });
  },
};
