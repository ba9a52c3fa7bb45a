// Small DOM and formatting helpers shared by the pages.

// h builds an element: h('td', {class: 'num'}, 'text', child...). Attributes
// starting with "on" are listeners; null/false attributes are left out.
export function h(tag, attrs, ...children) {
  const ns = tag.startsWith('svg:') ? 'http://www.w3.org/2000/svg' : null;
  const el = ns ? document.createElementNS(ns, tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'text') el.textContent = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

export function clear(el) { while (el.firstChild) el.firstChild.remove(); return el; }

export function bytes(n) {
  if (n === undefined || n === null || isNaN(n)) return '–';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (Math.abs(n) >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i === 0 ? n : n.toFixed(n < 10 ? 2 : 1)) + ' ' + u[i];
}

export function time(s) {
  if (!s) return '–';
  const d = new Date(s);
  if (isNaN(d)) return s;
  return d.toLocaleString();
}

export function ago(s) {
  if (!s) return '–';
  const sec = Math.round((Date.now() - new Date(s).getTime()) / 1000);
  if (sec < 60) return sec + ' s ago';
  if (sec < 3600) return Math.round(sec / 60) + ' min ago';
  return Math.round(sec / 3600) + ' h ago';
}

export function badge(state) { return h('span', { class: 'badge state-' + state }, state || '–'); }

// resourceText summarises a resources map: CPU, GPU, memory and the rest.
export function resourceText(res) {
  if (!res) return '';
  const parts = [];
  for (const [k, v] of Object.entries(res)) {
    if (k.startsWith('node:')) continue;
    if (k === 'memory' || k === 'object_store_memory') parts.push(`${k === 'memory' ? 'mem' : 'obj'} ${bytes(v)}`);
    else parts.push(`${k} ${+v.toFixed(2)}`);
  }
  return parts.join(' · ');
}

let toastTimer;
export function toast(msg, isError) {
  const el = document.getElementById('toast');
  el.textContent = msg;
  el.className = 'toast show' + (isError ? ' err' : '');
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.className = 'toast'; }, isError ? 6000 : 3000);
}

// run awaits fn, reporting a failure as a toast (and returning undefined).
export async function run(fn) {
  try { return await fn(); } catch (e) { toast(e.message || String(e), true); return undefined; }
}

// table builds a table with a header row and rows of cells.
export function table(headers, rows, attrs) {
  return h('table', attrs || {},
    h('thead', {}, h('tr', {}, headers.map((x) => typeof x === 'string' ? h('th', { scope: 'col' }, x) : x))),
    h('tbody', {}, rows));
}

export function shortID(s, n = 12) { return s && s.length > n ? s.slice(0, n) + '…' : s; }

// fill replaces el's children with children (arrays flattened, null and
// false left out).
export function fill(el, ...children) {
  clear(el);
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}
