# CastRay's ray transfer driver: runs as the entrypoint of a Ray job (Jobs API)
# and delivers one file onto chosen nodes of this cluster. Standard library and
# `ray` only; shipped inside the castray-transfer-ray plugin (go:embed).
#
# Configuration: JSON in $CASTRAY_CONFIG. The bytes come from the plugin's own
# HTTP server (url + per-transfer bearer token); the driver reads each chunk
# once, ray.put()s it, and one writer actor per target, pinned to its node with
# NodeAffinitySchedulingStrategy(soft=False), fetches it through Ray's object
# manager and pwrites it into a part file. A bounded window of chunks is in
# flight. When every chunk is written, each writer re-reads its part file,
# checks the SHA-256, fsyncs, and renames it to the final name.
#
# Output protocol (stdout, read back through the Jobs logs API on resume):
#   CASTRAY_RESULT {json}   one per target that reached an outcome
#   CASTRAY_FATAL {json}    the driver gave up before any outcome
# The same results are POSTed to <url>/result while the plugin listens.
import hashlib
import http.client
import json
import os
import signal
import sys
import tempfile
import threading
import time
import queue
import re
import urllib.parse

PHASES = [("start", time.time())]


def phase(name):
    PHASES.append((name, time.time()))


CFG = json.loads(os.environ["CASTRAY_CONFIG"])
TOKEN = os.environ.get("CASTRAY_SERVE_TOKEN") or CFG["token"]
BASE = urllib.parse.urlsplit(CFG["url"])
TID = CFG["transfer_id"]
NAME = CFG["name"]
SIZE = int(CFG["size"])
CHUNK = int(CFG["chunk_size"])
SHA = CFG["sha256"]
WINDOW = max(1, int(CFG.get("window", 4)))
IDLE = float(CFG.get("idle_timeout_s", 0))
FSYNC = bool(CFG.get("fsync", True))
NCHUNKS = (SIZE + CHUNK - 1) // CHUNK
PART = ".castray-%s.part" % TID

stopping = threading.Event()  # SIGTERM (job stopped): abort everything
lost = threading.Event()  # the plugin's server is gone: abort, no outcome


def emit(kind, obj):
    sys.stdout.write("CASTRAY_%s %s\n" % (kind, json.dumps(obj, sort_keys=True)))
    sys.stdout.flush()


class Conn:
    """One keep-alive connection to the plugin's server."""

    def __init__(self, timeout=30):
        self.timeout = timeout
        self.c = None

    def request(self, method, path, body=None, headers=None):
        h = {"Authorization": "Bearer " + TOKEN, "User-Agent": "castray-ray-driver/1"}
        if headers:
            h.update(headers)
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        for attempt in (0, 1):
            if self.c is None:
                cls = http.client.HTTPSConnection if BASE.scheme == "https" else http.client.HTTPConnection
                self.c = cls(BASE.hostname, BASE.port, timeout=self.timeout)
            try:
                self.c.request(method, BASE.path + path, body=data, headers=h)
                r = self.c.getresponse()
                payload = r.read()
                return r.status, r.getheader("Content-Range"), payload
            except (OSError, http.client.HTTPException):
                self.c.close()
                self.c = None
                if attempt == 1:
                    raise


def post(conn, path, body):
    status, _, payload = conn.request("POST", path, body)
    if status != 200:
        raise OSError("%s answered HTTP %d: %s" % (path, status, payload[:200].decode("utf-8", "replace")))
    return json.loads(payload or b"{}")


def on_term(signum, frame):
    stopping.set()


signal.signal(signal.SIGTERM, on_term)
signal.signal(signal.SIGINT, on_term)

# 1. Can this cluster reach the plugin? Nothing is written before this works.
ctl = Conn(timeout=15)
try:
    post(ctl, "/hello", {"pid": os.getpid(), "host": os.uname().nodename})
except Exception as e:  # noqa: BLE001 - any failure means unreachable
    emit("FATAL", {"error": "cannot reach the plugin's file server %s://%s: %s" % (BASE.scheme, BASE.netloc, e),
                   "unreachable": True})
    sys.exit(3)

phase("hello")
import ray  # noqa: E402
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy  # noqa: E402

phase("import")
ray.init(log_to_driver=False)
phase("init")
# ray.init installs its own SIGTERM handler (sys.exit): ours must win, so a
# stopped job removes its part files before Ray kills the writers.
signal.signal(signal.SIGTERM, on_term)
signal.signal(signal.SIGINT, on_term)


@ray.remote(num_cpus=0, max_restarts=0, max_task_retries=0, max_concurrency=64)
class Writer:
    """Writes one target's copy, on the node it is pinned to."""

    def __init__(self):
        self.fd = -1
        self.part = ""
        self.final = ""
        self.aborted = False
        self.lock = threading.Lock()
        self.node = ray.get_runtime_context().get_node_id()

    def open(self, template, vars_):
        v = dict(vars_)
        v["node_id"] = self.node
        v["tmp"] = tempfile.gettempdir()
        try:
            v["session_dir"] = ray._private.worker._global_node.get_session_dir_path()
        except Exception:  # noqa: BLE001 - private API, best effort
            v["session_dir"] = os.path.join(tempfile.gettempdir(), "ray", "session_latest")
        d = template
        for k, val in v.items():
            d = d.replace("{" + k + "}", val)
        if "{" in d or not os.path.isabs(d):
            raise ValueError("destination %r: unknown variable or not absolute" % d)
        os.makedirs(d, mode=0o755, exist_ok=True)
        self.part = os.path.join(d, PART)
        self.final = os.path.join(d, NAME)
        try:
            os.unlink(self.part)  # left by an earlier, killed attempt
        except FileNotFoundError:
            pass
        self.fd = os.open(self.part, os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        return {"node": self.node, "dir": d}

    def write(self, idx, data):
        with self.lock:
            if self.aborted:
                raise RuntimeError("aborted")
        view = memoryview(data)
        off = idx * CHUNK
        while view:
            n = os.pwrite(self.fd, view, off)
            view, off = view[n:], off + n
        return len(data)

    def commit(self):
        with self.lock:
            if self.aborted:
                raise RuntimeError("aborted")
        st = os.fstat(self.fd)
        if st.st_size != SIZE:
            self._drop()
            raise RuntimeError("part file has %d bytes, want %d" % (st.st_size, SIZE))
        tt = {"c0": time.time()}
        h = hashlib.sha256()
        off = 0
        while off < SIZE:
            b = os.pread(self.fd, min(8 << 20, SIZE - off), off)
            if not b:
                break
            h.update(b)
            off += len(b)
        got = h.hexdigest()
        if got != SHA:
            self._drop()
            raise RuntimeError("SHA-256 on disk is %s, want %s" % (got, SHA))
        tt["hashed"] = time.time()
        if FSYNC:
            os.fsync(self.fd)
        tt["fsynced"] = time.time()
        os.fchmod(self.fd, 0o644)
        os.close(self.fd)
        self.fd = -1
        os.replace(self.part, self.final)  # a symlink at the final name is replaced
        if FSYNC:
            dfd = os.open(os.path.dirname(self.final), os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        tt["renamed"] = time.time()
        return {"t": tt, "sha256": got, "bytes": SIZE, "location": "node %s:%s" % (self.node, self.final)}

    def abort(self):
        with self.lock:
            self.aborted = True
        self._drop()
        return True

    def _drop(self):
        if self.fd >= 0:
            try:
                os.close(self.fd)
            except OSError:
                pass
            self.fd = -1
        if self.part:
            try:
                os.unlink(self.part)
            except FileNotFoundError:
                pass


ANSI = re.compile(r"\x1b\[[0-9;]*m")


def reason(e):
    s = ANSI.sub("", "%s: %s" % (type(e).__name__, e))
    return " ".join(s.split())[:1500]


class Target:
    def __init__(self, spec):
        self.id = spec["id"]
        self.spec = spec
        self.actor = None
        self.pending = {}  # ObjectRef -> (chunk, submitted at)
        self.done = 0
        self.last = time.monotonic()
        self.outcome = None
        self.started = time.monotonic()


targets = [Target(s) for s in CFG["targets"]]
WT = {}
by_ref = {}
progress_lock = threading.Lock()
cancel_asked = set()


def finish(t, state, error="", res=None):
    if t.outcome is not None:
        return
    res = res or {}
    if "t" in res:
        WT[t.id] = res["t"]
    t.outcome = {"id": t.id, "state": state, "bytes": int(res.get("bytes", t.done if state == "done" else 0)),
                 "sha256": res.get("sha256", ""), "location": res.get("location", ""), "error": error,
                 "elapsed_ms": int((time.monotonic() - t.started) * 1000)}
    for ref in list(t.pending):
        by_ref.pop(ref, None)
    t.pending.clear()
    if state != "done" and t.actor is not None:
        try:
            ray.get(t.actor.abort.remote(), timeout=5)
        except Exception:  # noqa: BLE001 - the actor may be dead already
            pass
        try:
            ray.kill(t.actor)
        except Exception:  # noqa: BLE001
            pass
    emit("RESULT", t.outcome)
    try:
        post(ctl, "/result", t.outcome)
    except Exception:  # noqa: BLE001 - the log line stands
        pass


def live():
    return [t for t in targets if t.outcome is None]


def abort_all():
    refs = []
    for t in live():
        if t.actor is not None:
            refs.append(t.actor.abort.remote())
    try:
        ray.wait(refs, num_returns=len(refs), timeout=2)
    except Exception:  # noqa: BLE001
        pass


# 2. One writer per target, pinned to its node.
for t in targets:
    try:
        strategy = NodeAffinitySchedulingStrategy(node_id=t.spec["ray_node_id"], soft=False)
        t.actor = Writer.options(scheduling_strategy=strategy).remote()
        t.open_ref = t.actor.open.remote(t.spec["template"], t.spec.get("vars", {}))
    except Exception as e:  # noqa: BLE001
        finish(t, "failed", reason(e))
for t in live():
    try:
        info = ray.get(t.open_ref, timeout=max(IDLE, 120))
        if info["node"] != t.spec["ray_node_id"]:
            finish(t, "failed", "writer landed on node %s, not %s" % (info["node"], t.spec["ray_node_id"]))
    except Exception as e:  # noqa: BLE001
        finish(t, "failed", reason(e))


# 3. The source, read once, chunk by chunk, ahead of the writers.
chunks = queue.Queue(maxsize=WINDOW)


def reader():
    conn = Conn(timeout=60)
    try:
        for i in range(NCHUNKS):
            if stopping.is_set() or lost.is_set():
                return
            lo = i * CHUNK
            hi = min(SIZE, lo + CHUNK) - 1
            status, crange, data = conn.request("GET", "/file", headers={"Range": "bytes=%d-%d" % (lo, hi)})
            if status != 206 or len(data) != hi - lo + 1:
                raise OSError("chunk %d: HTTP %d, %d bytes (%s)" % (i, status, len(data), crange))
            chunks.put((i, data))
    except Exception as e:  # noqa: BLE001
        chunks.put((-1, e))


def reporter():
    conn = Conn(timeout=10)
    failures = 0
    while not (stopping.is_set() or lost.is_set()):
        with progress_lock:
            prog = {t.id: t.done for t in targets if t.outcome is None}
        try:
            ans = post(conn, "/progress", {"progress": prog})
            failures = 0
            for nid in ans.get("cancel", []):
                cancel_asked.add(nid)
        except Exception:  # noqa: BLE001
            failures += 1
            if failures >= 5:
                lost.set()
                return
        if not live():
            return
        time.sleep(0.5)


def settle(block_until_below):
    """Collects finished writes until every live target has fewer than
    block_until_below writes in flight (0: all of them)."""
    while True:
        if stopping.is_set() or lost.is_set():
            return
        for t in live():
            if t.id in cancel_asked:
                finish(t, "cancelled", "cancelled")
        busy = [t for t in live() if len(t.pending) >= max(1, block_until_below)]
        if not busy:
            return
        refs = list(by_ref)
        ready, _ = ray.wait(refs, num_returns=1, timeout=0.5)
        for ref in ready:
            t = by_ref.pop(ref, None)
            if t is None or t.outcome is not None:
                continue
            t.pending.pop(ref, None)
            try:
                n = ray.get(ref)
                with progress_lock:
                    t.done += n
                t.last = time.monotonic()
            except Exception as e:  # noqa: BLE001 - ActorDiedError, node death, disk full...
                finish(t, "failed", reason(e))
        if IDLE > 0:
            now = time.monotonic()
            for t in live():
                if t.pending and now - t.last > IDLE:
                    finish(t, "failed", "no progress for %.0f s (idle timeout)" % IDLE)


phase("opened")
threading.Thread(target=reader, daemon=True).start()
threading.Thread(target=reporter, daemon=True).start()

try:
    for i in range(NCHUNKS):
        if not live():
            break
        item = None
        while item is None and not (stopping.is_set() or lost.is_set()):
            try:
                item = chunks.get(timeout=0.5)
            except queue.Empty:
                pass
        if item is None:
            break
        idx, data = item
        if idx < 0:
            lost.set()
            emit("FATAL", {"error": "reading the source from the plugin: %s" % reason(data), "lost": True})
            break
        if i == 0:
            phase("chunk0")
        ref = ray.put(data)
        del data
        now = time.monotonic()
        for t in live():
            w = t.actor.write.remote(idx, ref)
            t.pending[w] = (idx, now)
            by_ref[w] = t
        del ref
        settle(WINDOW)
    phase("put_all")
    settle(0)
    phase("written")
    # 4. Verify, sync and rename on every node.
    commits = {}
    if not (stopping.is_set() or lost.is_set()):
        for t in live():
            commits[t.actor.commit.remote()] = t
    while commits and not (stopping.is_set() or lost.is_set()):
        ready, _ = ray.wait(list(commits), num_returns=1, timeout=0.5)
        for ref in ready:
            t = commits.pop(ref)
            try:
                finish(t, "done", res=ray.get(ref))
            except Exception as e:  # noqa: BLE001
                finish(t, "failed", reason(e))
except Exception as e:  # noqa: BLE001
    emit("FATAL", {"error": reason(e)})
    abort_all()
    sys.exit(1)

phase("committed")
emit("TIMING", {"phases": PHASES, "writers": WT})
if stopping.is_set() or lost.is_set():
    # Stopped (cancel) or the plugin went away: remove every part file and
    # leave the targets without an outcome, so a resume delivers them again.
    abort_all()
    sys.exit(5 if stopping.is_set() else 4)
sys.exit(0)
