// Distributions: standing distributions (a file kept on every node a
// selector matches): list with per-node status, create, delete. Follows
// distribution_updated events.

import { get, post, del } from '../api.js';
import { subscribe } from '../live.js';
import { h, clear, fill, badge, table, toast, run, bytes } from '../util.js';

export default {
  title: 'Distributions',
  render(view) {
    const list = h('div', { id: 'distributions' });
    const fileSel = h('select', { id: 'dist-file', required: true });
    const sel = h('textarea', { id: 'dist-selector', placeholder: '{"kind": "local"}' });
    const name = h('input', { id: 'dist-name', type: 'text' });
    const load = async () => {
      const r = await run(() => get('/api/distributions'));
      if (!r) return;
      fill(list, r.distributions.length === 0 ? h('p', { class: 'muted' }, 'No distribution.') :
        table(['Id', 'Name', 'File', 'Selector', 'Satisfied', 'Nodes (present/total)', 'Per node', ''], r.distributions.map((d) => h('tr', { 'data-distribution': d.id, 'data-satisfied': String(d.satisfied) },
          h('td', {}, h('code', {}, d.id)),
          h('td', {}, d.name || ''),
          h('td', {}, d.file_name, d.error ? h('div', { class: 'error' }, d.error) : null),
          h('td', {}, h('code', {}, JSON.stringify(d.selector))),
          h('td', {}, d.satisfied ? h('span', { class: 'ok' }, 'yes') : 'no'),
          h('td', { class: 'num' }, `${d.counts.present}/${d.counts.total}`),
          h('td', {}, h('details', {}, h('summary', {}, `${d.nodes.length} node(s)`),
            h('ul', {}, d.nodes.map((n) => h('li', {}, h('code', {}, n.node_id), ' ', badge(n.status), n.error ? h('span', { class: 'error' }, ' ' + n.error) : null))))),
          h('td', {}, h('button', { type: 'button', class: 'danger', 'aria-label': 'Delete distribution ' + d.id, onclick: async () => {
            if (await run(() => del('/api/distributions/' + encodeURIComponent(d.id)))) { toast('deleted ' + d.id); load(); }
          } }, 'Delete')))),
        { id: 'distributions-table' }));
    };
    view.append(h('h2', {}, 'Distributions'),
      h('section', { class: 'card' }, h('h3', {}, 'New distribution'),
        h('form', { id: 'dist-form', onsubmit: async (e) => {
          e.preventDefault();
          let selector;
          try { selector = JSON.parse(sel.value.trim() || '{}'); } catch (err) { toast('selector: ' + err.message, true); return; }
          const body = { file_name: fileSel.value, selector };
          if (name.value.trim()) body.name = name.value.trim();
          const r = await run(() => post('/api/distributions', body));
          if (r) { toast('distribution ' + r.distribution.id + ' created'); load(); }
        } },
        h('div', { class: 'row' },
          h('div', { class: 'field' }, h('label', { for: 'dist-file' }, 'File'), fileSel),
          h('div', { class: 'field' }, h('label', { for: 'dist-name' }, 'Name (optional)'), name),
          h('button', { type: 'submit', class: 'primary', id: 'dist-create' }, 'Create')),
        h('div', { class: 'field' }, h('label', { for: 'dist-selector' }, 'Selector (JSON; {} = every node)'), sel))),
      h('section', { class: 'card' }, h('h3', {}, 'Distributions'), list));
    (async () => {
      const r = await run(() => get('/api/files'));
      if (r) fill(fileSel, r.files.map((f) => h('option', { value: f.name }, `${f.name} (${bytes(f.size)})`)));
    })();
    load();
    let t = null;
    return subscribe((ev) => {
      if (ev.type === 'distribution_updated') { clearTimeout(t); t = setTimeout(load, 200); }
    });
  },
};
