// Transfers: start a unicast, multicast or broadcast with a target picker
// or a selector (JSON), live per-target progress from transfer_progress
// events, cancel, and the history of recorded transfers.

import { get, post, del } from '../api.js';
import { state, subscribe } from '../live.js';
import { h, clear, fill, bytes, time, badge, table, toast, run } from '../util.js';

const ended = (s) => ['completed', 'partial', 'failed', 'cancelled', 'interrupted'].includes(s);
// The transfers started from this page (or seen running) whose progress is shown.
const watched = new Set();

function targetRows(rec) {
  const live = state.progress.get(rec.id) || new Map();
  return (rec.targets || []).map((t) => {
    const p = live.get(t.node_id);
    const total = (p && p.bytes_total) || (rec.file && rec.file.size) || 0;
    let done = Math.max(t.bytes_done || 0, p ? p.bytes_done : 0);
    if (t.state === 'completed') done = total;
    const pct = total ? Math.floor((100 * done) / total) : (t.state === 'completed' ? 100 : 0);
    return h('tr', { 'data-target': t.node_id, 'data-state': t.state, 'data-percent': pct },
      h('td', {}, h('code', {}, t.node_id)),
      h('td', {}, t.backend || (p && p.backend) || ''),
      h('td', {}, badge(t.state)),
      h('td', {}, h('progress', { max: total || 1, value: total ? done : (t.state === 'completed' ? 1 : 0), 'aria-label': 'Progress to ' + t.node_id }), ' ', pct + '%'),
      h('td', { class: 'num' }, `${bytes(done)} / ${bytes(total)}`),
      h('td', { class: 'error' }, t.error || ''));
  });
}

function transferCard(rec) {
  const running = !ended(rec.state);
  return h('div', { class: 'transfer', 'data-transfer': rec.id, 'data-state': rec.state },
    h('div', { class: 'row' },
      h('strong', {}, rec.file ? rec.file.name : ''), ' ', badge(rec.state), ' ',
      h('span', { class: 'muted' }, `${rec.mode} · ${rec.backend} · ${(rec.targets || []).length} target(s) · `, h('code', {}, rec.id)),
      running ? h('button', { type: 'button', class: 'danger', 'aria-label': 'Cancel ' + rec.id, onclick: async () => {
        const r = await run(() => del('/api/transfers/' + encodeURIComponent(rec.id)));
        if (r) toast(r.message || 'cancelling');
      } }, 'Cancel') : null),
    rec.error ? h('p', { class: 'error' }, rec.error) : null,
    h('div', { class: 'targets' }, table(['Target', 'Backend', 'State', 'Progress', 'Bytes', 'Error'], targetRows(rec))));
}

export default {
  title: 'Transfers',
  render(view) {
    const fileSel = h('select', { id: 'tr-file', required: true });
    const modes = ['unicast', 'multicast', 'broadcast'];
    let mode = 'broadcast';
    let how = 'pick';
    const picker = h('div', { class: 'picker', id: 'tr-picker', role: 'group', 'aria-label': 'Targets' });
    const selector = h('textarea', { id: 'tr-selector', placeholder: '{"kind": "ray-node", "labels": {"castray-e2e": "special"}}' });
    const selectorField = h('div', { class: 'field' }, h('label', { for: 'tr-selector' }, 'Selector (JSON): cluster, kind, state, labels, resources, available'), selector);
    const active = h('div', { id: 'active-transfers' });
    const hist = h('div', { id: 'history' });

    const drawPicker = () => {
      const chosen = new Set([...picker.querySelectorAll('input:checked')].map((i) => i.value));
      const nodes = [...state.nodes.values()].filter((n) => n.state === 'active').sort((a, b) => a.id.localeCompare(b.id));
      fill(picker, nodes.length ? nodes.map((n) => h('label', {},
        h('input', { type: mode === 'unicast' ? 'radio' : 'checkbox', name: 'tr-target', value: n.id, checked: chosen.has(n.id) }),
        ' ', h('code', {}, n.id), ' ', h('span', { class: 'muted' }, n.kind + (n.name ? ' · ' + n.name : '')))) :
        h('p', { class: 'muted' }, 'No active node.'));
    };
    const syncForm = () => {
      const pick = how === 'pick';
      picker.hidden = !pick || mode === 'broadcast';
      selectorField.hidden = pick;
      drawPicker();
    };

    const form = h('form', { id: 'transfer-form', onsubmit: async (e) => {
      e.preventDefault();
      const body = { file_name: fileSel.value, mode };
      if (how === 'pick') {
        if (mode !== 'broadcast') body.targets = [...picker.querySelectorAll('input:checked')].map((i) => i.value);
      } else if (selector.value.trim()) {
        try { body.selector = JSON.parse(selector.value); } catch (err) { toast('selector: ' + err.message, true); return; }
      }
      const r = await run(() => post('/api/transfers', body));
      if (!r) return;
      toast('transfer ' + r.transfer.id + ' started');
      watched.add(r.transfer.id);
      if (!state.transfers.has(r.transfer.id)) state.transfers.set(r.transfer.id, r.transfer);
      drawActive();
    } },
    h('div', { class: 'row' },
      h('div', { class: 'field' }, h('label', { for: 'tr-file' }, 'File'), fileSel),
      h('fieldset', {}, h('legend', {}, 'Mode'), modes.map((m) => h('label', {},
        h('input', { type: 'radio', name: 'tr-mode', value: m, id: 'tr-mode-' + m, checked: m === mode, onchange: () => { mode = m; syncForm(); } }), ' ', m, ' '))),
      h('fieldset', {}, h('legend', {}, 'Targets by'),
        h('label', {}, h('input', { type: 'radio', name: 'tr-how', value: 'pick', id: 'tr-how-pick', checked: true, onchange: () => { how = 'pick'; syncForm(); } }), ' picking nodes '),
        h('label', {}, h('input', { type: 'radio', name: 'tr-how', value: 'selector', id: 'tr-how-selector', onchange: () => { how = 'selector'; syncForm(); } }), ' selector ')),
      h('button', { type: 'submit', class: 'primary', id: 'tr-start' }, 'Start transfer')),
    picker, selectorField);

    const drawActive = () => {
      const recs = [...watched].map((id) => state.transfers.get(id)).filter(Boolean);
      for (const rec of state.transfers.values()) if (!ended(rec.state) && !watched.has(rec.id)) { watched.add(rec.id); recs.push(rec); }
      recs.sort((a, b) => (b.created_at || '').localeCompare(a.created_at || ''));
      fill(active, recs.length ? recs.map(transferCard) : h('p', { class: 'muted' }, 'No transfer started from this page yet.'));
    };

    const loadHistory = async () => {
      const r = await run(() => get('/api/transfers?limit=100'));
      if (!r) return;
      fill(hist, h('p', { class: 'muted' }, `${r.count} of ${r.total} record(s)`),
        table(['Id', 'File', 'Mode', 'State', 'Targets', 'Size', 'Created', 'Finished', ''], r.transfers.map((t) => h('tr', { 'data-transfer': t.id, 'data-state': t.state },
          h('td', {}, h('code', {}, t.id)),
          h('td', {}, t.file.name),
          h('td', {}, t.mode),
          h('td', {}, badge(t.state)),
          h('td', { class: 'num' }, `${(t.targets || []).filter((x) => x.state === 'completed').length}/${(t.targets || []).length}`),
          h('td', { class: 'num' }, bytes(t.file.size)),
          h('td', {}, time(t.created_at)),
          h('td', {}, time(t.finished_at)),
          h('td', {}, ended(t.state)
            ? h('button', { type: 'button', 'aria-label': 'Delete record ' + t.id, onclick: async () => { if (await run(() => del('/api/transfers/' + encodeURIComponent(t.id)))) loadHistory(); } }, 'Delete record')
            : h('button', { type: 'button', class: 'danger', 'aria-label': 'Cancel ' + t.id, onclick: async () => { const x = await run(() => del('/api/transfers/' + encodeURIComponent(t.id))); if (x) toast(x.message || 'cancelling'); } }, 'Cancel')))),
        { id: 'history-table' }));
    };

    view.append(h('h2', {}, 'Transfers'),
      h('section', { class: 'card' }, h('h3', {}, 'Start a transfer'), form),
      h('section', { class: 'card' }, h('h3', {}, 'Progress'), active),
      h('section', { class: 'card' }, h('h3', {}, 'History'), hist));

    (async () => {
      const r = await run(() => get('/api/files'));
      if (r) {
        fill(fileSel, r.files.map((f) => h('option', { value: f.name }, `${f.name} (${bytes(f.size)})`)));
        if (!r.files.length) fileSel.append(h('option', { value: '' }, 'no uploaded file'));
      }
    })();
    syncForm();
    drawActive();
    loadHistory();

    let pending = false;
    const later = () => {
      if (pending) return;
      pending = true;
      requestAnimationFrame(() => { pending = false; drawActive(); });
    };
    return subscribe((ev) => {
      if (ev.type.startsWith('transfer_')) {
        later();
        if (ev.type !== 'transfer_progress' && ev.type !== 'transfer_activity') loadHistory();
      }
      if (ev.type.startsWith('node_') || ev.type === 'refreshed') {
        if (!picker.hidden && !picker.contains(document.activeElement)) drawPicker();
      }
    });
  },
};
