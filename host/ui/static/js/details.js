// The shared side panel that shows one item's details.

import { h, clear } from './util.js';

let opener = null;

// showDetails fills the panel with a title and [label, value] fields (a
// value may be a DOM node; empty ones are left out) and optional extra
// content, then moves the focus to its close button.
export function showDetails(title, fields, extra, focus = true) {
  if (focus) opener = document.activeElement;
  const panel = document.getElementById('details');
  document.getElementById('details-title').textContent = title;
  const body = clear(document.getElementById('details-body'));
  body.append(h('dl', {}, fields.filter(([, v]) => v !== undefined && v !== null && v !== '').map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)])));
  if (extra) body.append(extra);
  panel.hidden = false;
  if (focus) document.getElementById('details-close').focus();
}

// hideDetails closes the panel and gives the focus back to what opened it.
export function hideDetails() {
  document.getElementById('details').hidden = true;
  // The page may have redrawn what opened the panel (the topology does on
  // every node event): then the element with the same data-id gets the focus.
  let back = opener;
  if (back && !back.isConnected && back.dataset && back.dataset.id) {
    back = document.querySelector(`[data-id="${CSS.escape(back.dataset.id)}"]`);
  }
  if (back && back.isConnected) back.focus();
  opener = null;
}
