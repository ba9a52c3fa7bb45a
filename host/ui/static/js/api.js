// The REST client of the page: every call carries the API token kept in
// sessionStorage (when the daemon requires one).

const KEY = 'castray.token';

export function token() { return sessionStorage.getItem(KEY) || ''; }
export function setToken(t) { t ? sessionStorage.setItem(KEY, t) : sessionStorage.removeItem(KEY); }

export class APIError extends Error {
  constructor(status, message, body) { super(message); this.status = status; this.body = body; }
}

// unauthorized is called on any 401 (the token is wrong or was revoked).
let unauthorized = () => {};
export function onUnauthorized(fn) { unauthorized = fn; }

function headers(extra) {
  const h = { ...extra };
  const t = token();
  if (t) h.Authorization = 'Bearer ' + t;
  return h;
}

async function parse(r) {
  const text = await r.text();
  if (!text) return null;
  try { return JSON.parse(text); } catch { return { error: text }; }
}

// api calls METHOD path with an optional JSON body and returns the decoded
// JSON answer; a non-2xx answer throws an APIError with the daemon's message.
export async function api(method, path, body) {
  const init = { method, headers: headers() };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const r = await fetch(path, init);
  const data = await parse(r);
  if (r.status === 401) unauthorized();
  if (!r.ok) throw new APIError(r.status, (data && (data.error || data.message)) || r.statusText, data);
  return data;
}

export const get = (p) => api('GET', p);
export const post = (p, b) => api('POST', p, b === undefined ? {} : b);
export const del = (p, b) => api('DELETE', p, b);

// upload sends file to POST /api/upload (multipart, part "file") with
// XMLHttpRequest, whose upload events give progress(loaded, total).
export function upload(file, progress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', '/api/upload');
    const t = token();
    if (t) xhr.setRequestHeader('Authorization', 'Bearer ' + t);
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) progress(e.loaded, e.total); };
    xhr.onload = () => {
      let data = null;
      try { data = JSON.parse(xhr.responseText); } catch { data = { error: xhr.responseText }; }
      if (xhr.status === 401) unauthorized();
      if (xhr.status >= 200 && xhr.status < 300) resolve(data);
      else reject(new APIError(xhr.status, (data && data.error) || xhr.statusText, data));
    };
    xhr.onerror = () => reject(new APIError(0, 'network error during upload'));
    xhr.onabort = () => reject(new APIError(0, 'upload aborted'));
    const form = new FormData();
    form.append('file', file, file.name);
    xhr.send(form);
  });
}

// download fetches an uploaded file with the token and saves it.
export async function download(name) {
  const r = await fetch('/api/files/' + encodeURIComponent(name), { headers: headers() });
  if (!r.ok) throw new APIError(r.status, (await parse(r))?.error || r.statusText);
  const url = URL.createObjectURL(await r.blob());
  const a = document.createElement('a');
  a.href = url; a.download = name;
  document.body.append(a); a.click(); a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}
