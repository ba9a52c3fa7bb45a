// Files: upload by drag-and-drop or a file input, each with a progress bar
// fed by XMLHttpRequest upload progress (POST /api/upload); the list of
// uploads with download and delete.

import { get, del, upload, download } from '../api.js';
import { h, clear, fill, bytes, time, table, toast, run } from '../util.js';

let uploadSeq = 0;

export default {
  title: 'Files',
  render(view) {
    const list = h('div', {});
    const uploads = h('ul', { class: 'uploads', id: 'uploads', 'aria-live': 'polite' });
    // The native input stays in the tab order (visually hidden); its label
    // is the visible button and shows the focus ring.
    const input = h('input', { type: 'file', id: 'file-input', class: 'visually-hidden', multiple: true });
    const zone = h('div', { class: 'dropzone', id: 'dropzone' },
      h('p', {}, 'Drop files here to upload them, or'),
      input, h('label', { for: 'file-input', class: 'button' }, 'Choose files…'));

    const reload = async () => {
      const r = await run(() => get('/api/files'));
      if (!r) return;
      fill(list, r.files.length === 0 ? h('p', { class: 'muted', id: 'no-files' }, 'No uploaded file.') :
        table(['Name', 'Size', 'SHA-256', 'Modified', ''], r.files.map((f) => h('tr', { 'data-file': f.name },
          h('td', {}, f.name),
          h('td', { class: 'num' }, bytes(f.size)),
          h('td', {}, h('code', { title: f.sha256 }, f.sha256.slice(0, 16) + '…')),
          h('td', {}, time(f.modified)),
          h('td', {},
            h('button', { type: 'button', 'aria-label': 'Download ' + f.name, onclick: () => run(() => download(f.name)) }, 'Download'), ' ',
            h('button', { type: 'button', class: 'danger', 'aria-label': 'Delete ' + f.name, onclick: async () => {
              const res = await run(() => del('/api/files/' + encodeURIComponent(f.name)));
              if (res) { toast('deleted ' + f.name); reload(); }
            } }, 'Delete')))),
        { id: 'files-table' }));
    };

    const send = (files) => {
      for (const file of files) {
        const id = 'upload-' + (++uploadSeq);
        const bar = h('progress', { max: file.size || 1, value: 0, 'aria-label': 'Upload of ' + file.name });
        const text = h('span', { class: 'upload-state' }, '0%');
        const li = h('li', { id, 'data-upload': file.name, 'data-state': 'uploading' }, h('strong', {}, file.name), ' ', bytes(file.size), ' ', bar, ' ', text);
        uploads.prepend(li);
        upload(file, (loaded, total) => {
          bar.max = total; bar.value = loaded;
          text.textContent = Math.floor((100 * loaded) / total) + '%';
        }).then((r) => {
          bar.max = 1; bar.value = 1;
          text.textContent = 'done · sha256 ' + r.file.sha256.slice(0, 12) + '…';
          li.dataset.state = 'done';
          reload();
        }, (e) => {
          text.textContent = 'failed: ' + e.message;
          text.className = 'upload-state error';
          li.dataset.state = 'failed';
        });
      }
    };

    input.addEventListener('change', () => { send([...input.files]); input.value = ''; });
    zone.addEventListener('dragover', (e) => { e.preventDefault(); zone.classList.add('over'); });
    zone.addEventListener('dragleave', () => zone.classList.remove('over'));
    zone.addEventListener('drop', (e) => {
      e.preventDefault();
      zone.classList.remove('over');
      if (e.dataTransfer && e.dataTransfer.files.length) send([...e.dataTransfer.files]);
    });

    view.append(h('h2', {}, 'Files'),
      h('section', { class: 'card' }, h('h3', {}, 'Upload'), zone, uploads),
      h('section', { class: 'card' }, h('h3', {}, 'Uploaded files'), list));
    reload();
  },
};
