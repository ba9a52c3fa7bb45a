// File generator: the original's /api/file-generator/: a file of a given
// size and content, or of a preset size, generated into the upload store;
// the generated files with delete.

import { get, post, del } from '../api.js';
import { h, clear, fill, table, toast, run } from '../util.js';

export default {
  title: 'Generator',
  render(view) {
    const info = h('p', { class: 'muted', id: 'gen-info' });
    const presets = h('div', { class: 'row', id: 'gen-presets' });
    const list = h('div', {});
    const size = h('input', { id: 'gen-size', type: 'text', value: '1MB', size: 10 });
    const ctype = h('select', { id: 'gen-type' }, ['text', 'random', 'pattern'].map((t) => h('option', { value: t }, t)));
    const pattern = h('input', { id: 'gen-pattern', type: 'text', placeholder: '0123456789ABCDEF' });
    const fname = h('input', { id: 'gen-name', type: 'text', placeholder: 'automatic' });
    const out = h('p', { id: 'gen-result', 'aria-live': 'polite' });

    const load = async () => {
      const r = await run(() => get('/api/file-generator/files'));
      if (!r) return;
      fill(list, h('p', { class: 'muted' }, `${r.total_count} generated file(s), ${r.total_size_formatted}`),
        r.files.length ? table(['Name', 'Size', 'SHA-256', 'Modified', ''], r.files.map((f) => h('tr', { 'data-file': f.file_name },
          h('td', {}, f.file_name), h('td', { class: 'num' }, f.size_formatted),
          h('td', {}, h('code', { title: f.sha256 }, (f.sha256 || '').slice(0, 16) + '…')), h('td', {}, f.modified_time),
          h('td', {}, h('button', { type: 'button', class: 'danger', 'aria-label': 'Delete ' + f.file_name, onclick: async () => {
            if (await run(() => del('/api/file-generator/files/' + encodeURIComponent(f.file_name)))) { toast('deleted ' + f.file_name); load(); }
          } }, 'Delete')))), { id: 'gen-files' }) : null);
    };
    const created = (r) => {
      if (!r) return;
      fill(out, h('span', { class: 'ok' }, r.message), ' ', h('code', {}, r.file_info.file_name || ''));
      load();
    };
    const opts = () => {
      const b = { content_type: ctype.value };
      if (ctype.value === 'pattern' && pattern.value) b.pattern = pattern.value;
      if (fname.value.trim()) b.file_name = fname.value.trim();
      return b;
    };

    view.append(h('h2', {}, 'File generator'), info,
      h('section', { class: 'card' }, h('h3', {}, 'Generate a file'),
        h('form', { class: 'row', id: 'gen-form', onsubmit: async (e) => {
          e.preventDefault();
          created(await run(() => post('/api/file-generator/create', { ...opts(), size: size.value.trim() })));
        } },
        h('div', { class: 'field' }, h('label', { for: 'gen-size' }, 'Size (100B, 1.5MB, 1GB)'), size),
        h('div', { class: 'field' }, h('label', { for: 'gen-type' }, 'Content'), ctype),
        h('div', { class: 'field' }, h('label', { for: 'gen-pattern' }, 'Pattern (content "pattern")'), pattern),
        h('div', { class: 'field' }, h('label', { for: 'gen-name' }, 'File name'), fname),
        h('button', { type: 'submit', class: 'primary', id: 'gen-create' }, 'Generate')),
        h('h3', {}, 'Or a preset size'), presets, out),
      h('section', { class: 'card' }, h('h3', {}, 'Generated files'), list));

    (async () => {
      const [i, p] = await Promise.all([run(() => get('/api/file-generator/info')), run(() => get('/api/file-generator/presets'))]);
      if (i) info.textContent = `Largest file: ${i.max_file_size_formatted}. Units: ${i.supported_units.join(', ')}. Generated names start with ${i.name_prefixes.join(', ')}.`;
      if (p) {
        fill(presets, Object.entries(p.presets).sort((a, b) => a[1].size_bytes - b[1].size_bytes).map(([name, x]) =>
          h('button', { type: 'button', 'data-preset': name, disabled: !x.available, title: x.description,
            onclick: async () => created(await run(() => post('/api/file-generator/create-preset', { ...opts(), preset: name }))) },
          `${name} (${x.size_formatted})`)));
      }
    })();
    load();
  },
};
