// Throughput: transfer history as a chart drawn from the daemon's own
// records (GET /api/transfers: file size, targets completed, started_at,
// finished_at). One bar per ended transfer, its height the delivered bytes
// per second (file size x completed targets / run time), in time order; the
// line is the cumulative delivered bytes.

import { get } from '../api.js';
import { subscribe } from '../live.js';
import { h, clear, fill, bytes, time, table, run } from '../util.js';

const W = 900, H = 280, L = 70, R = 60, T = 20, B = 40;

function points(transfers) {
  return transfers
    .filter((t) => t.started_at && t.finished_at)
    .map((t) => {
      const secs = Math.max((new Date(t.finished_at) - new Date(t.started_at)) / 1000, 0.001);
      const done = (t.targets || []).filter((x) => x.state === 'completed').length;
      const delivered = (t.file.size || 0) * done;
      return { t, end: new Date(t.finished_at), secs, delivered, rate: delivered / secs };
    })
    .sort((a, b) => a.end - b.end);
}

function chart(pts) {
  const svg = h('svg:svg', { class: 'chart', id: 'throughput-chart', width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: 'img',
    'aria-label': `Throughput of ${pts.length} transfers` });
  const maxRate = Math.max(...pts.map((p) => p.rate), 1);
  const total = pts.reduce((s, p) => s + p.delivered, 0) || 1;
  const pw = W - L - R, ph = H - T - B;
  const bw = Math.max(Math.min(pw / Math.max(pts.length, 1) - 4, 40), 3);
  svg.append(h('svg:line', { class: 'axis', x1: L, y1: T, x2: L, y2: T + ph }),
    h('svg:line', { class: 'axis', x1: L, y1: T + ph, x2: L + pw, y2: T + ph }),
    h('svg:text', { x: 4, y: T + 8 }, bytes(maxRate) + '/s'),
    h('svg:text', { x: 4, y: T + ph }, '0'),
    h('svg:text', { x: L + pw + 4, y: T + 8 }, bytes(total)),
    h('svg:text', { x: L + pw + 4, y: T + 22 }, 'total'));
  let cum = 0;
  const line = [];
  pts.forEach((p, i) => {
    const x = L + (i + 0.5) * (pw / pts.length);
    const bh = (p.rate / maxRate) * ph;
    svg.append(h('svg:rect', { class: 'bar state-' + p.t.state, x: x - bw / 2, y: T + ph - bh, width: bw, height: Math.max(bh, 1), 'data-transfer': p.t.id },
      h('svg:title', {}, `${p.t.file.name} → ${p.t.targets.length} target(s), ${p.t.state}: ${bytes(p.delivered)} in ${p.secs.toFixed(2)} s = ${bytes(p.rate)}/s, ended ${time(p.t.finished_at)}`)));
    cum += p.delivered;
    line.push(`${x},${T + ph - (cum / total) * ph}`);
  });
  if (line.length) svg.append(h('svg:polyline', { class: 'cum', points: line.join(' ') }));
  if (pts.length) {
    svg.append(h('svg:text', { x: L, y: H - 8 }, time(pts[0].t.finished_at)),
      h('svg:text', { x: L + pw - 140, y: H - 8 }, time(pts[pts.length - 1].t.finished_at)));
  }
  return svg;
}

export default {
  title: 'Throughput',
  render(view) {
    const body = h('div', {});
    view.append(h('h2', {}, 'Throughput and transfer history'),
      h('p', { class: 'muted' }, 'Bars: bytes delivered per second by each ended transfer (file size × completed targets ÷ run time), oldest left. Line: cumulative bytes delivered. From GET /api/transfers.'),
      body);
    const load = async () => {
      const r = await run(() => get('/api/transfers?limit=500'));
      if (!r) return;
      const pts = points(r.transfers);
      const sum = pts.reduce((s, p) => s + p.delivered, 0);
      const secs = pts.reduce((s, p) => s + p.secs, 0);
      fill(body, 
        h('p', { id: 'throughput-summary' }, `${pts.length} ended transfer(s), ${bytes(sum)} delivered in ${secs.toFixed(1)} s of transfer time (${bytes(secs ? sum / secs : 0)}/s on average).`),
        h('div', { class: 'graph-wrap' }, chart(pts)),
        h('h3', {}, 'Records'),
        table(['Transfer', 'File', 'State', 'Delivered', 'Run time', 'Throughput', 'Ended'], pts.slice().reverse().map((p) => h('tr', { 'data-transfer': p.t.id },
          h('td', {}, h('code', {}, p.t.id)), h('td', {}, p.t.file.name), h('td', {}, p.t.state),
          h('td', { class: 'num' }, bytes(p.delivered)), h('td', { class: 'num' }, p.secs.toFixed(2) + ' s'),
          h('td', { class: 'num' }, bytes(p.rate) + '/s'), h('td', {}, time(p.t.finished_at))))));
    };
    load();
    return subscribe((ev) => {
      if (['transfer_completed', 'transfer_partial', 'transfer_failed', 'transfer_cancelled'].includes(ev.type)) load();
    });
  },
};
