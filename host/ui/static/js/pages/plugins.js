// Plugins: every plugin with its health, restarts, versions and last error,
// live from plugin_state events.

import { get } from '../api.js';
import { state, subscribe } from '../live.js';
import { h, clear, fill, badge, time, table, run } from '../util.js';

export default {
  title: 'Plugins',
  render(view) {
    const body = h('div', {});
    view.append(h('h2', {}, 'Plugins'), body);
    const draw = () => {
      const ps = [...state.plugins].sort((a, b) => a.name.localeCompare(b.name));
      fill(body, table(['Name', 'Kind', 'State', 'Version', 'API', 'Restarts', 'PID', 'Started', 'Last healthy', 'Last error'],
        ps.map((p) => h('tr', { 'data-plugin': p.name, 'data-state': p.state },
          h('td', {}, h('strong', {}, p.name), p.description ? h('div', { class: 'muted' }, p.description) : null),
          h('td', {}, p.kind),
          h('td', {}, badge(p.state)),
          h('td', { class: 'plugin-version' }, p.version || '–'),
          h('td', {}, String(p.api_version), p.api_versions ? h('span', { class: 'muted' }, ` (${p.api_versions.join(', ')})`) : null),
          h('td', { class: 'num plugin-restarts' }, p.restarts),
          h('td', { class: 'num' }, p.pid || ''),
          h('td', {}, time(p.started_at)),
          h('td', {}, time(p.last_healthy_at)),
          h('td', { class: 'error' }, p.last_error || ''))),
        { id: 'plugins-table' }));
    };
    (async () => {
      const r = await run(() => get('/api/plugins'));
      if (r) { state.plugins = r.plugins; draw(); }
    })();
    draw();
    return subscribe((ev) => { if (ev.type === 'plugin_state' || ev.type === 'snapshot') draw(); });
  },
};
