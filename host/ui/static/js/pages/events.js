// Events: the live /ws event log of this tab (newest first), filterable by
// type, with pause.

import { state, subscribe } from '../live.js';
import { h, clear, fill } from '../util.js';

let filter = '';
let paused = false;

function summary(ev) {
  const d = ev.data || {};
  switch (ev.type) {
    case 'node_added': case 'node_updated': case 'node_removed': case 'node_dead': return `${d.id} ${d.kind} ${d.state}`;
    case 'transfer_progress': return `${d.transfer_id} → ${d.node_id}: ${d.bytes_done}/${d.bytes_total}`;
    case 'plugin_state': return `${d.name} ${d.state}${d.last_error ? ': ' + d.last_error : ''}`;
    case 'status_update': return `${d.active_nodes}/${d.total_nodes} nodes active`;
    case 'snapshot': return `${d.status ? d.status.total_nodes : '?'} nodes, ${(d.plugins || []).length} plugins`;
    case 'external_cluster_connected': return `${d.id} ${d.address}`;
    case 'external_cluster_disconnected': return `${d.cluster && d.cluster.id}: ${d.reason}`;
    default:
      if (ev.type.startsWith('transfer_')) return `${d.id || d.transfer_id} ${d.state || ''} ${(d.file && d.file.name) || d.file_name || ''}`;
      return JSON.stringify(d).slice(0, 160);
  }
}

export default {
  title: 'Events',
  render(view) {
    const list = h('ol', { class: 'eventlog', id: 'eventlog', reversed: true });
    const count = h('span', { class: 'muted', id: 'event-count' });
    const pause = h('button', { type: 'button', id: 'event-pause', 'aria-pressed': String(paused), onclick: () => {
      paused = !paused; pause.setAttribute('aria-pressed', String(paused)); pause.textContent = paused ? 'Resume' : 'Pause';
      if (!paused) draw();
    } }, paused ? 'Resume' : 'Pause');
    view.append(h('h2', {}, 'Events'),
      h('div', { class: 'row' },
        h('div', { class: 'field' }, h('label', { for: 'event-filter' }, 'Type contains'),
          h('input', { id: 'event-filter', type: 'search', value: filter, oninput: (e) => { filter = e.target.value; draw(); } })),
        pause, count),
      list);
    const item = (ev) => h('li', { 'data-type': ev.type },
      h('span', { class: 'muted' }, new Date(ev.ts).toLocaleTimeString(), ' '),
      h('span', { class: 'etype' }, ev.type), ' ', summary(ev));
    function draw() {
      const evs = state.log.filter((e) => !filter || e.type.includes(filter));
      fill(list, evs.slice(-300).reverse().map(item));
      count.textContent = `${evs.length} event(s) since this tab opened (last 500 kept)`;
    }
    draw();
    return subscribe((ev) => {
      if (paused || !ev.ts) return;
      if (filter && !ev.type.includes(filter)) return;
      list.prepend(item(ev));
      while (list.children.length > 300) list.lastChild.remove();
      count.textContent = `${state.log.filter((e) => !filter || e.type.includes(filter)).length} event(s) since this tab opened (last 500 kept)`;
    });
  },
};
