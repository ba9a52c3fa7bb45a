// The browser flows of CastRay's web UI, driven by playwright-core in
// Debian's chromium. Run by ui_test.go as `node flows.mjs <flow>` with:
//   CASTRAY_UI_URL        the daemon's base URL (the tests give a proxy that checks
//                         every API answer against openapi.yaml)
//   CASTRAY_UI_TOKEN      the API token (token flow only; typed into the login prompt)
//   CASTRAY_UI_ARTIFACTS  folder for screenshots
//   CASTRAY_CHROMIUM      the chromium binary
//   CASTRAY_UI_PARAMS     JSON: what the Go test knows of the Ray cluster
// A flow fails on a failed step, on any console error and on any page error.
// Waits have generous deadlines that only bound a broken run.

import { chromium } from 'playwright-core';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import path from 'node:path';

const BASE = process.env.CASTRAY_UI_URL;
const TOKEN = process.env.CASTRAY_UI_TOKEN || '';
const ART = process.env.CASTRAY_UI_ARTIFACTS;
const P = JSON.parse(process.env.CASTRAY_UI_PARAMS || '{}');
const flowName = process.argv[2];

// While true, console errors about a 401 answer are expected (the token
// flow's wrong token: Chrome logs every refused request as an error).
let expect401 = false;
// While true, the hostile flow's refused requests are expected console
// errors (403 answers, blocked CORS reads, a refused WebSocket).
let expectRefused = false;

// The host name the browser resolves to 127.0.0.1 (--host-resolver-rules):
// a DNS-rebinding page's own name.
const REBIND = 'rebind.test';

const SHORT = 30_000;
const LONG = 180_000;

function log(...a) { console.log(new Date().toISOString().slice(11, 23), ...a); }

function check(cond, msg) { if (!cond) throw new Error('check failed: ' + msg); }

async function shot(page, name) {
  const file = path.join(ART, `${flowName}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  log('screenshot', file);
}

// until waits for fn (run in the page) to return a truthy value.
async function until(page, what, fn, arg, timeout = SHORT) {
  log('waiting:', what);
  try {
    return await (await page.waitForFunction(fn, arg, { timeout, polling: 200 })).jsonValue();
  } catch (e) {
    throw new Error(`${what}: not within ${timeout / 1000} s (${e.message.split('\n')[0]})`);
  }
}

// go opens a page by its nav link (no reload).
async function go(page, name) {
  await page.click(`#nav a[href="#/${name}"]`);
  await until(page, `page ${name}`, (n) => document.getElementById('view').dataset.page === n, name);
}

// api calls the daemon from the test itself (not through the page).
async function api(method, p, body) {
  const headers = { 'Content-Type': 'application/json' };
  if (TOKEN) headers.Authorization = 'Bearer ' + TOKEN;
  const r = await fetch(BASE + p, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const data = await r.json().catch(() => null);
  if (!r.ok) throw new Error(`${method} ${p}: ${r.status} ${JSON.stringify(data)}`);
  return data;
}

async function open(page) {
  await page.goto(BASE + '/');
  check(new URL(page.url()).pathname === '/ui', `/ redirects to /ui (got ${page.url()})`);
  await until(page, 'the live event stream', () => document.getElementById('ws-state').dataset.state === 'on');
}

// dropFile drops a file of content on selector as a user's drag-and-drop would.
async function dropFile(page, selector, name, content) {
  const dt = await page.evaluateHandle(({ name, bytes }) => {
    const dt = new DataTransfer();
    dt.items.add(new File([new Uint8Array(bytes)], name, { type: 'application/octet-stream' }));
    return dt;
  }, { name, bytes: [...content] });
  await page.dispatchEvent(selector, 'dragenter', { dataTransfer: dt });
  await page.dispatchEvent(selector, 'dragover', { dataTransfer: dt });
  await page.dispatchEvent(selector, 'drop', { dataTransfer: dt });
}

const flows = {
  // discover -> connect -> topology shows both Ray nodes -> the worker dies
  // and turns dead live -> upload (input and drop) -> broadcast -> done.
  async main(page) {
    await open(page);
    await page.evaluate(() => { window.__noReload = 'still the same page'; });

    await go(page, 'clusters');
    await shot(page, 'clusters-empty');
    await page.click('#discover');
    const row = `#discovered tr[data-session="${P.session_name}"]`;
    await page.waitForSelector(row, { timeout: 150_000 });
    const sources = await page.$$eval(`${row} .evidence-source`, (els) => els.map((e) => e.dataset.source).sort());
    check(sources.includes('tmpdir') && sources.includes('dashboard-scan'), `evidence from tmpdir and dashboard-scan, got ${sources}`);
    await page.click(`${row} .evidence-source[data-source="dashboard-scan"] summary`);
    const evidence = await page.textContent(`${row} .evidence-source[data-source="dashboard-scan"] ul`);
    check(evidence.trim().length > 0, 'dashboard-scan lists its evidence');
    check((await page.textContent('#strategies')).includes('tmpdir'), 'the strategies table names tmpdir');
    await shot(page, 'clusters-discovered');

    await page.click(`${row} button`);
    await until(page, 'the connected cluster listed', () => document.querySelector('#connections tr[data-state="connected"]'), undefined, 90_000);
    const version = await page.textContent('#connections tr[data-state="connected"] .ray-version');
    check(version.trim() === P.ray_version, `Ray version ${version} = ${P.ray_version}`);
    const cluster = await page.getAttribute('#connections tr[data-state="connected"]', 'data-cluster');
    log('connected', cluster);
    await shot(page, 'clusters');

    await go(page, 'topology');
    const workerID = `ray:${cluster}:${P.worker_hex}`;
    const headID = `ray:${cluster}:${P.head_hex}`;
    await until(page, 'both Ray nodes active in the topology', (ids) => ids.every((id) =>
      document.querySelector(`#topology .vertex[data-id="${id}"][data-state="active"]`)), [headID, workerID], 60_000);
    check(await page.$(`#topology .vertex[data-kind="cluster"][data-id="${cluster}"][data-state="connected"]`), 'the cluster vertex');
    check(await page.$('#topology .vertex[data-kind="daemon"]'), 'the daemon vertex');
    for (const n of P.local_nodes) check(await page.$(`#topology .vertex[data-id="${n}"]`), `local node ${n} in the topology`);
    check((await page.$$('#topology .vertex[data-kind="ray-node"]')).length === 2, 'exactly two Ray nodes');
    const actor = `#topology .vertex[data-kind="ray-actor"][data-host="${workerID}"]`;
    await until(page, 'the actor under the worker', (sel) => document.querySelector(sel)?.getAttribute('aria-label').includes('ui_demo_actor'), actor);
    await page.click(`#topology .vertex[data-id="${workerID}"]`);
    await until(page, 'the worker\'s details', (id) => !document.getElementById('details').hidden &&
      document.getElementById('details-node-id')?.textContent === id, workerID);
    check((await page.textContent('#details-body')).includes('CPU'), 'details list the resources');
    await shot(page, 'topology');

    log('killing the worker raylet', P.worker_pid);
    process.kill(P.worker_pid, 'SIGKILL');
    await until(page, 'the worker dead in the topology', (id) =>
      document.querySelector(`#topology .vertex[data-id="${id}"][data-state="dead"]`), workerID, LONG);
    await until(page, 'the open details follow the node', () =>
      document.querySelector('#details-node-state .badge')?.textContent === 'dead');
    check(await page.$(`#topology .vertex[data-id="${headID}"][data-state="active"]`), 'the head stays active');
    await until(page, 'the worker\'s actor gone from the topology', (sel) => !document.querySelector(sel), actor, LONG);
    await until(page, 'the cluster vertex counts one alive node', (id) =>
      document.querySelector(`#topology .vertex[data-id="${id}"]`)?.getAttribute('aria-label').includes('1/2 alive'), cluster);
    check(await page.evaluate(() => window.__noReload) === 'still the same page', 'no reload');
    // The header's count follows the node events too, not only the
    // periodic status report.
    await until(page, 'the header to count the dead worker', () => {
      const m = /^(\d+)\/(\d+) nodes active/.exec(document.getElementById('summary').textContent);
      const nodes = [...document.querySelectorAll('#topology .vertex[data-state]')].filter((v) => ['local', 'ray-node', 'ray-actor'].includes(v.dataset.kind));
      return m && Number(m[2]) === nodes.length && Number(m[1]) === nodes.filter((v) => v.dataset.state === 'active').length;
    });
    await page.click('#details-close');
    await shot(page, 'topology-worker-dead');
    // Keyboard: focus the head's vertex, Enter opens its details, Escape
    // closes them and gives the focus back.
    await page.focus(`#topology .vertex[data-id="${headID}"]`);
    await page.keyboard.press('Enter');
    await until(page, 'the head\'s details by keyboard', (id) => document.getElementById('details-node-id')?.textContent === id, headID);
    await page.keyboard.press('Escape');
    check(await page.evaluate((id) => document.activeElement?.dataset?.id === id && document.getElementById('details').hidden, headID), 'Escape closes and refocuses the vertex');

    await go(page, 'files');
    const a = randomBytes(3 << 20), bName = 'ui-dropped.bin';
    await page.setInputFiles('#file-input', { name: 'ui-picked.bin', mimeType: 'application/octet-stream', buffer: a });
    await page.waitForSelector('#uploads li[data-upload="ui-picked.bin"][data-state="done"]', { timeout: 60_000 });
    const bar = await page.$eval('#uploads li[data-upload="ui-picked.bin"] progress', (p) => [p.value, p.max]);
    check(bar[0] === bar[1], `upload progress full, got ${bar}`);
    await dropFile(page, '#dropzone', bName, randomBytes(64 << 10));
    await page.waitForSelector(`#uploads li[data-upload="${bName}"][data-state="done"]`, { timeout: 60_000 });
    await page.waitForSelector('#files-table tr[data-file="ui-picked.bin"]');
    await page.waitForSelector(`#files-table tr[data-file="${bName}"]`);
    const listed = await api('GET', '/api/files');
    check(listed.files.find((f) => f.name === 'ui-picked.bin')?.size === a.length, 'the picked file arrived whole');
    await shot(page, 'files');

    await go(page, 'transfers');
    await until(page, 'the file in the picker', () => [...document.querySelectorAll('#tr-file option')].some((o) => o.value === 'ui-picked.bin'));
    await page.selectOption('#tr-file', 'ui-picked.bin');
    await page.check('#tr-mode-broadcast');
    await page.click('#tr-start');
    const card = '#active-transfers .transfer';
    await page.waitForSelector(card, { timeout: SHORT });
    const tid = await page.getAttribute(card, 'data-transfer');
    log('transfer', tid);
    await until(page, 'the broadcast completed', (id) =>
      document.querySelector(`#active-transfers .transfer[data-transfer="${id}"][data-state="completed"]`), tid, LONG);
    const targets = await page.$$eval(`#active-transfers .transfer[data-transfer="${tid}"] tr[data-target]`,
      (rows) => rows.map((r) => ({ id: r.dataset.target, state: r.dataset.state, pct: r.dataset.percent })));
    log('targets', JSON.stringify(targets));
    const ids = targets.map((x) => x.id).sort();
    const want = [...P.local_nodes, headID].sort();
    check(JSON.stringify(ids) === JSON.stringify(want), `broadcast targets ${ids} = active nodes ${want}`);
    check(targets.every((x) => x.state === 'completed' && x.pct === '100'), 'every target at 100%');
    await shot(page, 'transfers');
    // The progress came as events: the tab's event log holds them.
    await go(page, 'events');
    await page.fill('#event-filter', 'transfer_');
    const evTypes = await page.$$eval('#eventlog li', (l) => l.map((x) => x.dataset.type));
    check(evTypes.includes('transfer_progress') && evTypes.includes('transfer_completed'), `transfer events in the log: ${[...new Set(evTypes)]}`);
    check(await page.evaluate(() => window.__noReload) === 'still the same page', 'no reload in the whole flow');
  },

  // One table of every kind, filtered by cluster, kind, state and label.
  async nodes(page) {
    await open(page);
    await go(page, 'nodes');
    await until(page, 'every node listed', () => document.querySelectorAll('#nodes-table tr[data-node]').length >= 5);
    const count = () => page.$$eval('#nodes-table tr[data-node]', (r) => r.map((x) => x.dataset.node));
    const all = await count();
    await page.selectOption('#f-kind', 'ray-node');
    let rows = await count();
    check(rows.length === 2 && rows.every((id) => id.startsWith('ray:')), `kind ray-node: ${rows}`);
    await page.selectOption('#f-state', 'dead');
    rows = await count();
    check(rows.length === 1 && rows[0].endsWith(P.worker_hex), `dead Ray nodes: ${rows}`);
    await page.selectOption('#f-state', '');
    await page.selectOption('#f-kind', '');
    await page.selectOption('#f-cluster', '(local)');
    rows = await count();
    check(JSON.stringify(rows.sort()) === JSON.stringify([...P.local_nodes].sort()), `local cluster: ${rows}`);
    await page.selectOption('#f-cluster', '');
    const head = all.find((id) => id.endsWith(P.head_hex));
    const labels = await page.$$eval(`#nodes-table tr[data-node="${head}"] td:nth-child(8) code`, (c) => c.map((x) => x.textContent));
    log('head labels', labels);
    if (labels.length) {
      await page.fill('#f-label', labels[0]);
      rows = await count();
      check(rows.includes(head) && !rows.some((id) => P.local_nodes.includes(id)), `label ${labels[0]}: ${rows}`);
      await page.fill('#f-label', '');
    }
    const res = await page.textContent(`#nodes-table tr[data-node="${head}"] td:nth-child(6)`);
    check(res.includes('CPU'), `head resources shown: ${res}`);
    await page.click(`#nodes-table tr[data-node="${head}"] button`);
    await page.waitForSelector('#details-body table.resources');
    await shot(page, 'nodes');
    await page.keyboard.press('Escape');
    check(await page.$eval('#details', (d) => d.hidden), 'Escape closes the details');
  },

  async plugins(page) {
    await open(page);
    await go(page, 'plugins');
    for (const name of ['local', 'ray', 'tmpdir', 'dashboard-scan']) {
      await page.waitForSelector(`#plugins-table tr[data-plugin="${name}"][data-state="healthy"]`);
      const v = (await page.textContent(`#plugins-table tr[data-plugin="${name}"] .plugin-version`)).trim();
      check(v && v !== '–', `${name} has a version (${v})`);
      const r = (await page.textContent(`#plugins-table tr[data-plugin="${name}"] .plugin-restarts`)).trim();
      check(r === '0', `${name} restarts ${r}`);
    }
    await shot(page, 'plugins');
  },

  // The live event log shows what happens while it is open.
  async events(page) {
    await open(page);
    await go(page, 'events');
    await page.waitForSelector('#eventlog li[data-type="snapshot"]');
    await api('POST', '/api/nodes', { node_id: 'ui-events-node' });
    await page.waitForSelector('#eventlog li[data-type="node_added"]');
    await api('DELETE', '/api/nodes/ui-events-node');
    await page.waitForSelector('#eventlog li[data-type="node_removed"]');
    await page.fill('#event-filter', 'node_');
    const types = await page.$$eval('#eventlog li', (l) => l.map((x) => x.dataset.type));
    check(types.length >= 2 && types.every((x) => x.startsWith('node_')), `filtered: ${types}`);
    await shot(page, 'events');
  },

  async generator(page) {
    await open(page);
    await go(page, 'generator');
    await page.waitForSelector('#gen-presets button[data-preset="tiny"]');
    await page.fill('#gen-size', '1.5MB');
    await page.selectOption('#gen-type', 'pattern');
    await page.fill('#gen-pattern', 'castray');
    await page.fill('#gen-name', 'ui-gen.dat');
    await page.click('#gen-create');
    await page.waitForSelector('#gen-files tr[data-file="sample_ui-gen.dat"]');
    const f = (await api('GET', '/api/files')).files.find((x) => x.name === 'sample_ui-gen.dat');
    check(f && f.size === 1.5 * 1024 * 1024, `generated size ${f && f.size}`);
    await page.fill('#gen-name', '');
    await page.click('#gen-presets button[data-preset="tiny"]');
    await until(page, 'the preset file listed', () => [...document.querySelectorAll('#gen-files tr[data-file]')].some((r) => r.dataset.file.startsWith('preset_tiny')));
    await shot(page, 'generator');
    await page.click('#gen-files tr[data-file="sample_ui-gen.dat"] button');
    await until(page, 'the deleted file gone', () => !document.querySelector('#gen-files tr[data-file="sample_ui-gen.dat"]'));
  },

  // Multicast with the target picker, multicast by selector, history.
  async transfers(page) {
    await open(page);
    await go(page, 'transfers');
    await until(page, 'the files in the picker', () => [...document.querySelectorAll('#tr-file option')].some((o) => o.value === 'ui-dropped.bin'));
    await page.selectOption('#tr-file', 'ui-dropped.bin');
    await page.check('#tr-mode-multicast');
    const picks = P.local_nodes.slice(0, 2);
    for (const n of picks) await page.check(`#tr-picker input[value="${n}"]`);
    await page.click('#tr-start');
    await page.waitForSelector('#active-transfers .transfer');
    const t1 = await page.getAttribute('#active-transfers .transfer', 'data-transfer');
    await until(page, 'the multicast completed', (id) => document.querySelector(`#active-transfers .transfer[data-transfer="${id}"][data-state="completed"]`), t1, LONG);
    const got = await page.$$eval(`#active-transfers .transfer[data-transfer="${t1}"] tr[data-target]`, (r) => r.map((x) => x.dataset.target).sort());
    check(JSON.stringify(got) === JSON.stringify(picks), `picked targets ${got}`);

    // Unicast: the picker offers one choice (radio buttons).
    await page.check('#tr-mode-unicast');
    const one = P.local_nodes[2];
    check(await page.getAttribute(`#tr-picker input[value="${one}"]`, 'type') === 'radio', 'unicast picks with radio buttons');
    await page.check(`#tr-picker input[value="${one}"]`);
    await page.click('#tr-start');
    await until(page, 'a unicast transfer', (id) => [...document.querySelectorAll('#active-transfers .transfer')].some((c) => c.dataset.transfer !== id), t1);
    const tu = await page.$$eval('#active-transfers .transfer', (c, id) => c.map((x) => x.dataset.transfer).find((x) => x !== id), t1);
    await until(page, 'the unicast completed', (id) => document.querySelector(`#active-transfers .transfer[data-transfer="${id}"][data-state="completed"]`), tu, LONG);
    const uni = await page.$$eval(`#active-transfers .transfer[data-transfer="${tu}"] tr[data-target]`, (r) => r.map((x) => x.dataset.target));
    check(JSON.stringify(uni) === JSON.stringify([one]), `unicast target ${uni}`);
    check((await api('GET', '/api/transfers/' + tu)).transfer.mode === 'unicast', 'recorded as unicast');

    await page.check('#tr-mode-multicast');
    await page.check('#tr-how-selector');
    await page.fill('#tr-selector', '{"kind": "local"}');
    await page.click('#tr-start');
    await until(page, 'a selector transfer', (ids) => [...document.querySelectorAll('#active-transfers .transfer')].some((c) => !ids.includes(c.dataset.transfer)), [t1, tu]);
    const t2 = await page.$$eval('#active-transfers .transfer', (c, ids) => c.map((x) => x.dataset.transfer).find((x) => !ids.includes(x)), [t1, tu]);
    await until(page, 'the selector transfer completed', (id) => document.querySelector(`#active-transfers .transfer[data-transfer="${id}"][data-state="completed"]`), t2, LONG);
    const sel = await page.$$eval(`#active-transfers .transfer[data-transfer="${t2}"] tr[data-target]`, (r) => r.map((x) => x.dataset.target).sort());
    check(JSON.stringify(sel) === JSON.stringify([...P.local_nodes].sort()), `selector targets ${sel}`);
    // Cancel: a transfer to the Ray head (a Ray job, which takes seconds to
    // start) cancelled from its card as soon as it is listed.
    await page.fill('#tr-selector', '{"kind": "ray-node"}');
    await page.click('#tr-start');
    await until(page, 'a transfer to cancel', (ids) => [...document.querySelectorAll('#active-transfers .transfer')].some((c) => !ids.includes(c.dataset.transfer)), [t1, tu, t2]);
    const t3 = await page.$$eval('#active-transfers .transfer', (c, ids) => c.map((x) => x.dataset.transfer).find((x) => !ids.includes(x)), [t1, tu, t2]);
    await page.click(`#active-transfers .transfer[data-transfer="${t3}"] button.danger`);
    await until(page, 'the transfer cancelled', (id) => document.querySelector(`#active-transfers .transfer[data-transfer="${id}"][data-state="cancelled"]`), t3, LONG);
    check((await api('GET', '/api/transfers/' + t3)).transfer.state === 'cancelled', 'the daemon recorded the cancel');
    await until(page, 'both in the history', (ids) => ids.every((id) => document.querySelector(`#history-table tr[data-transfer="${id}"][data-state="completed"]`)), [t1, t2]);
    await shot(page, 'transfers');
    await page.click(`#history-table tr[data-transfer="${t1}"] button`);
    await until(page, 'the record deleted', (id) => !document.querySelector(`#history-table tr[data-transfer="${id}"]`), t1);
  },

  // The throughput chart drawn from GET /api/transfers.
  async history(page) {
    await open(page);
    await go(page, 'history');
    const rec = await api('GET', '/api/transfers');
    const ended = rec.transfers.filter((t) => t.started_at && t.finished_at);
    await until(page, 'one bar per ended transfer', (n) => document.querySelectorAll('#throughput-chart rect.bar').length === n, ended.length);
    check(ended.length >= 2, `ended transfers ${ended.length}`);
    check(await page.$('#throughput-chart polyline.cum'), 'the cumulative line');
    await shot(page, 'history');
  },

  async distributions(page) {
    await open(page);
    await go(page, 'distributions');
    await until(page, 'the files in the picker', () => [...document.querySelectorAll('#dist-file option')].some((o) => o.value === 'ui-dropped.bin'));
    await page.selectOption('#dist-file', 'ui-dropped.bin');
    await page.fill('#dist-name', 'ui everywhere local');
    await page.fill('#dist-selector', '{"kind": "local"}');
    await page.click('#dist-create');
    await page.waitForSelector('#distributions-table tr[data-distribution]');
    await page.waitForSelector('#distributions-table tr[data-distribution][data-satisfied="true"]', { timeout: LONG });
    await shot(page, 'distributions');
    await page.click('#distributions-table tr[data-distribution] button.danger');
    await until(page, 'the distribution deleted', () => !document.querySelector('#distributions-table tr[data-distribution]'));
  },

  // A daemon of its own with no cluster: connect by address, the cluster's
  // nodes appear in the topology live; disconnect, they vanish; no reload.
  async clusters(page) {
    await open(page);
    await page.evaluate(() => { window.__noReload = 'still the same page'; });
    await go(page, 'clusters');
    await page.waitForSelector('#no-clusters');
    await go(page, 'topology');
    check(!(await page.$('#topology .vertex[data-kind="ray-node"]')), 'no Ray node before connecting');
    await go(page, 'clusters');
    await page.fill('#connect-address', P.dashboard_url);
    await page.click('#connect');
    await page.waitForSelector('#connect-result.ok', { timeout: 90_000 });
    await page.waitForSelector('#connections tr[data-state="connected"]');
    const cluster = await page.getAttribute('#connections tr[data-state="connected"]', 'data-cluster');
    const headID = `ray:${cluster}:${P.head_hex}`;
    await shot(page, 'clusters-connected');
    await go(page, 'topology');
    await page.waitForSelector(`#topology .vertex[data-id="${headID}"][data-state="active"]`);
    await shot(page, 'topology-connected');
    await go(page, 'clusters');
    await page.click(`#connections tr[data-cluster="${cluster}"] button`);
    await page.waitForSelector('#no-clusters', { timeout: 60_000 });
    await go(page, 'topology');
    await until(page, 'the Ray nodes gone from the topology', () =>
      !document.querySelector('#topology .vertex[data-kind="ray-node"], #topology .vertex[data-kind="cluster"]'));
    for (const n of P.local_nodes) check(await page.$(`#topology .vertex[data-id="${n}"]`), `local node ${n} stays`);
    check(await page.evaluate(() => window.__noReload) === 'still the same page', 'no reload');
    await shot(page, 'topology-disconnected');
  },

  // A daemon with a token: the login prompt, then pages and /ws work.
  // A hostile page, served from another origin, tries every way a page can
  // drive a daemon on loopback without a token; then a DNS-rebinding page
  // (its own name resolving to 127.0.0.1) tries same-origin. Nothing may
  // change, and the daemon's own pages still work.
  async hostile(page) {
    const evil = http.createServer((req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/html' });
      res.end('<!doctype html><title>evil</title><h1>an unrelated site</h1>');
    });
    await new Promise((ok) => evil.listen(0, '127.0.0.1', ok));
    const evilURL = `http://127.0.0.1:${evil.address().port}/`;
    const daemon = new URL(BASE);
    try {
      expectRefused = true;
      await page.goto(evilURL);
      const outcome = await page.evaluate(async (base) => {
        const tries = {};
        const attempt = async (name, fn) => {
          try { tries[name] = await fn(); } catch (e) { tries[name] = 'blocked: ' + e.message; }
        };
        // Simple requests a page may send anywhere without asking: the
        // browser sends them, the daemon must refuse them.
        await attempt('create node (text/plain)', async () => (await fetch(base + '/api/nodes', { method: 'POST', mode: 'no-cors',
          headers: { 'Content-Type': 'text/plain' }, body: '{"node_id": "evil_1"}' })).type);
        await attempt('create node (no content type)', async () => (await fetch(base + '/api/nodes', { method: 'POST', mode: 'no-cors',
          body: new Blob(['{"node_id": "evil_2"}']) })).type);
        await attempt('broadcast', async () => (await fetch(base + '/api/transfers', { method: 'POST', mode: 'no-cors',
          headers: { 'Content-Type': 'text/plain' }, body: '{"file_name": "kept.txt", "mode": "broadcast"}' })).type);
        const form = new FormData();
        form.append('file', new File(['owned'], 'evil.txt'));
        await attempt('multipart upload', async () => (await fetch(base + '/api/upload', { method: 'POST', mode: 'no-cors', body: form })).type);
        // Requests that need a preflight (JSON, DELETE): the daemon grants no CORS.
        await attempt('delete node (cors)', async () => (await fetch(base + '/api/nodes/node_1', { method: 'DELETE' })).status);
        await attempt('read the config (cors)', async () => (await fetch(base + '/api/config')).status);
        // The event stream.
        tries.websocket = await new Promise((done) => {
          const ws = new WebSocket(base.replace(/^http/, 'ws') + '/ws');
          ws.onopen = () => { ws.close(); done('opened'); };
          ws.onerror = () => done('refused');
        });
        return tries;
      }, BASE);
      log('hostile page:', JSON.stringify(outcome));
      check(outcome.websocket === 'refused', 'a foreign page opened /ws');
      check(String(outcome['delete node (cors)']).startsWith('blocked'), 'a foreign page got a DELETE through');
      check(String(outcome['read the config (cors)']).startsWith('blocked'), 'a foreign page read the config');

      // DNS rebinding: the page's own name now resolves to 127.0.0.1, so
      // its requests are same-origin; the daemon refuses the foreign Host.
      const rebound = `http://${REBIND}:${daemon.port}`;
      const resp = await page.goto(rebound + '/ui');
      check(resp.status() === 403, `the daemon served ${rebound}/ui: ${resp.status()}`);
      const same = await page.evaluate(async () => {
        const r = await fetch('/api/nodes', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"node_id": "evil_3"}' });
        return r.status;
      });
      check(same === 403, `a rebound page's same-origin POST: ${same}`);
      expectRefused = false;
      await shot(page, 'rebound-refused');
    } finally {
      expectRefused = false;
      evil.close();
    }

    // Nothing changed, and the daemon's own pages work.
    const nodes = (await api('GET', '/api/nodes')).nodes.map((n) => n.id).sort();
    check(JSON.stringify(nodes) === JSON.stringify(P.local_nodes), `nodes after the attacks: ${nodes}`);
    check((await api('GET', '/api/transfers')).transfers.length === 0, 'a transfer was started');
    check(!(await api('GET', '/api/files')).files.some((f) => f.name === 'evil.txt'), 'a file was uploaded');
    await open(page);
    await go(page, 'nodes');
    await shot(page, 'own-page');
  },

  async token(page) {
    await page.goto(BASE + '/');
    await page.waitForSelector('#login[open]');
    check(await page.$eval('#ws-state', (e) => e.dataset.state !== 'on'), 'no event stream before the token');
    await shot(page, 'login');
    // A wrong token is refused, and the prompt comes back saying so.
    expect401 = true;
    await page.fill('#login-token', 'not-' + TOKEN);
    await page.click('#login-submit');
    await until(page, 'the prompt again after a wrong token', () =>
      document.getElementById('login').open && document.getElementById('login-error').textContent.includes('refused'));
    check(await page.evaluate(() => sessionStorage.getItem('castray.token')) === null, 'a refused token is not kept');
    await shot(page, 'login-refused');
    expect401 = false;
    await page.fill('#login-token', TOKEN);
    await page.click('#login-submit');
    await until(page, 'the live event stream with the token', () => document.getElementById('ws-state').dataset.state === 'on');
    check(await page.getAttribute('#ws-state', 'data-protocol') === 'castray.v1', 'the daemon answered the subprotocol castray.v1 (never the token)');
    check(await page.evaluate(() => sessionStorage.getItem('castray.token')) === TOKEN, 'the token kept in sessionStorage');
    check(!page.url().includes(TOKEN), 'the token is not in the URL');
    await go(page, 'nodes');
    await until(page, 'the local nodes', (n) => document.querySelectorAll('#nodes-table tr[data-node]').length === n, P.local_nodes.length);
    await shot(page, 'nodes');
    await go(page, 'files');
    await page.setInputFiles('#file-input', { name: 'ui-token.txt', mimeType: 'text/plain', buffer: Buffer.from('with a token\n') });
    await page.waitForSelector('#uploads li[data-upload="ui-token.txt"][data-state="done"]');
    await page.waitForSelector('#files-table tr[data-file="ui-token.txt"]');
    await shot(page, 'files');
    await page.click('#files-table tr[data-file="ui-token.txt"] button.danger');
    await page.waitForSelector('#no-files');
    check(!(await api('GET', '/api/files')).files.some((f) => f.name === 'ui-token.txt'), 'the file deleted on the daemon');
    await go(page, 'plugins');
    await page.waitForSelector('#plugins-table tr[data-plugin="local"][data-state="healthy"]');
    await go(page, 'events');
    await api('POST', '/api/nodes', { node_id: 'ui-token-node' });
    await page.waitForSelector('#eventlog li[data-type="node_added"]');
    await shot(page, 'events');
    // A reload keeps the session's token: no prompt.
    await page.reload();
    await until(page, 'the stream again after a reload', () => document.getElementById('ws-state').dataset.state === 'on');
    check(!(await page.$('#login[open]')), 'no login prompt after a reload');
  },
};

async function main() {
  const flow = flows[flowName];
  if (!flow) throw new Error(`unknown flow ${flowName}; flows: ${Object.keys(flows).join(', ')}`);
  const browser = await chromium.launch({
    executablePath: process.env.CASTRAY_CHROMIUM,
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu', `--host-resolver-rules=MAP ${REBIND} 127.0.0.1`],
  });
  const problems = [];
  let failed = null;
  try {
    const context = await browser.newContext({ viewport: { width: 1366, height: 768 } }); // a laptop screen
    const page = await context.newPage();
    page.on('console', (m) => {
      if (m.type() !== 'error') return;
      if (expect401 && /\b401\b/.test(m.text())) { log('expected:', m.text()); return; }
      // The hostile flow's refusals, and whatever the browser still asks of
      // the rebound name afterwards (its favicon), are the daemon's 403s.
      if (expectRefused || new URL(m.location().url || 'about:blank').hostname === REBIND) { log('expected:', m.text()); return; }
      problems.push(`console error: ${m.text()} (${m.location().url})`);
    });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    try {
      await flow(page);
    } catch (e) {
      failed = e;
      await page.screenshot({ path: path.join(ART, `${flowName}-FAILED.png`), fullPage: true }).catch(() => {});
    }
    await context.close();
  } finally {
    await browser.close();
  }
  if (failed) console.error(`FAIL ${flowName}: ${failed.stack || failed}`);
  for (const p of problems) console.error('FAIL ' + p);
  if (failed || problems.length) process.exit(1);
  log(`ok ${flowName}`);
}

main().catch((e) => { console.error(e); process.exit(1); });
