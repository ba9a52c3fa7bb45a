# CastRay's ray transfer driver: runs as the entrypoint of a Ray job (Jobs API)
# and delivers one file onto chosen nodes of this cluster. Standard library and
# `ray` only; shipped inside the castray-transfer-ray plugin (go:embed).
#
# Configuration: JSON in the job's metadata key castray_config (Ray's job
# supervisor passes the metadata in $RAY_JOB_CONFIG_JSON_ENV_VAR). The bytes come from the plugin's own
# HTTP server (url + per-transfer bearer token), or from disk when the driver
# runs on the daemon's machine and sees the very file stored (config
# "source"); the driver reads each chunk once, ray.put()s it, and one writer actor per target, pinned to its node with
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
import pickle
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


CFG = json.loads(json.loads(os.environ["RAY_JOB_CONFIG_JSON_ENV_VAR"])["metadata"]["castray_config"])
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
VERIFY = CFG.get("verify") or "reread"  # "reread" | "written"
FETCH = CFG.get("fetch") or "object-store"  # "object-store" | "direct"
# Chunks the reader may pull and ray.put ahead of the slowest writer: the
# object store holds them while the writers' actors start.
PREFETCH = max(WINDOW, int(CFG.get("prefetch_bytes", 256 << 20)) // max(1, CHUNK))
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



def _sync_range():
    """sync_file_range(2) through ctypes (Linux), to start writing back the
    verified prefix early so the final fsync has less left; None elsewhere."""
    try:
        import ctypes
        import ctypes.util
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        f = libc.sync_file_range
        f.argtypes = [ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong, ctypes.c_uint]
        return lambda fd, off, n: f(fd, off, n, 2)  # SYNC_FILE_RANGE_WRITE
    except Exception:  # noqa: BLE001 - an optimisation only
        return None


class WriterImpl:
    """Writes one target's copy, on the node it is pinned to (an actor), or
    in the driver itself for a target on the driver's node. The part file
    is opened by the constructor, so every call runs after it (calls of a
    threaded actor may run in any order, but never before __init__).

    The SHA-256 is computed while the copy arrives, over the chunks in file
    order as soon as they form a contiguous prefix: verify="reread" hashes
    what a pread of the part file returns for that prefix (each byte read
    back after its only write, in a thread of its own), verify="written"
    the bytes handed to pwrite."""

    def __init__(self, template, vars_):
        self.fd = -1
        self.part = ""
        self.final = ""
        self.aborted = False
        self.error = None
        self.node = ray.get_runtime_context().get_node_id()
        self.cv = threading.Condition()
        self.arrived = {}  # chunk -> bytes (written) or True (reread), beyond the prefix
        self.low = 0  # chunks 0..low-1 are written
        self.hashed = 0  # chunks 0..hashed-1 are hashed
        self.h = hashlib.sha256()
        self.conns = queue.LifoQueue()  # direct fetch: keep-alive connections
        self.dir = self._open(template, vars_)
        self.acc = {"pwrite": 0.0, "rehash": 0.0, "first": 0.0, "init": time.time()}
        self.hasher = None
        if VERIFY == "reread":
            self.sync_range = _sync_range() if FSYNC else None
            self.hasher = threading.Thread(target=self._rehash, daemon=True)
            self.hasher.start()

    def _open(self, template, vars_):
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
        return d

    def info(self):
        return {"node": self.node, "dir": self.dir}

    def _check(self):
        with self.cv:
            if self.aborted:
                raise RuntimeError("aborted")
            if self.error is not None:
                raise RuntimeError(self.error)

    def write(self, idx, data):
        """data: the chunk as Ray hands it over, a read-only buffer over the
        object store's copy (the driver puts a PickleBuffer: no copy into
        this process), or bytes."""
        self._check()
        self._pwrite(idx, data)
        return memoryview(data).nbytes

    def fetch(self, idx):
        """fetch="direct": pulls chunk idx from the plugin's server itself."""
        self._check()
        lo = idx * CHUNK
        hi = min(SIZE, lo + CHUNK) - 1
        try:
            conn = self.conns.get_nowait()
        except queue.Empty:
            conn = Conn(timeout=60)
        status, crange, data = conn.request("GET", "/file", headers={"Range": "bytes=%d-%d" % (lo, hi)})
        if status != 206 or len(data) != hi - lo + 1:
            raise OSError("chunk %d: HTTP %d, %d bytes (%s)" % (idx, status, len(data), crange))
        self.conns.put(conn)
        self._pwrite(idx, data)
        return len(data)

    def _pwrite(self, idx, data):
        a0 = time.time()
        if not self.acc["first"]:
            self.acc["first"] = a0
        view = memoryview(data)
        off = idx * CHUNK
        while view:
            n = os.pwrite(self.fd, view, off)
            view, off = view[n:], off + n
        self.acc["pwrite"] += time.time() - a0
        with self.cv:
            if VERIFY == "written":
                self.arrived[idx] = data
                while self.low in self.arrived:
                    self.h.update(self.arrived.pop(self.low))
                    self.low += 1
                self.hashed = self.low
            else:
                self.arrived[idx] = True
                while self.arrived.pop(self.low, None):
                    self.low += 1
                self.cv.notify_all()

    def _rehash(self):
        """verify="reread": hashes the written prefix as read back from the
        part file, and starts its write-back (fsync still comes at the end)."""
        buf = bytearray(min(max(CHUNK, 1 << 20), 8 << 20))
        try:
            while True:
                with self.cv:
                    while self.hashed >= self.low and not self.aborted and self.hashed < NCHUNKS:
                        self.cv.wait()
                    if self.aborted or self.hashed >= NCHUNKS:
                        return
                    upto = self.low
                a0 = time.time()
                off, end = self.hashed * CHUNK, min(SIZE, upto * CHUNK)
                start = off
                while off < end:
                    n = os.preadv(self.fd, [memoryview(buf)[:min(len(buf), end - off)]], off)
                    if n <= 0:
                        raise OSError("part file ends at %d, want %d bytes" % (off, SIZE))
                    self.h.update(memoryview(buf)[:n])
                    off += n
                if self.sync_range is not None:
                    self.sync_range(self.fd, start, end - start)
                self.acc["rehash"] += time.time() - a0
                with self.cv:
                    self.hashed = upto
                    self.cv.notify_all()
        except Exception as e:  # noqa: BLE001 - reported by the next call
            with self.cv:
                if self.error is None:
                    self.error = "re-reading the part file: %s" % e
                self.cv.notify_all()

    def commit(self):
        tt = {"c0": time.time()}
        with self.cv:
            while self.hashed < NCHUNKS and self.error is None and not self.aborted:
                self.cv.wait()
        self._check()
        tt["hashed"] = time.time()
        st = os.fstat(self.fd)
        if st.st_size != SIZE or self.low != NCHUNKS:
            self._drop()
            raise RuntimeError("part file has %d bytes (%d chunks written), want %d" % (st.st_size, self.low, SIZE))
        got = self.h.hexdigest()
        if got != SHA:
            self._drop()
            what = "on disk (read back)" if VERIFY == "reread" else "of the bytes written"
            raise RuntimeError("SHA-256 %s is %s, want %s" % (what, got, SHA))
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
        tt.update(self.acc)
        tt["cpu"] = os.times()[0] + os.times()[1]
        return {"t": tt, "sha256": got, "bytes": SIZE, "location": "node %s:%s" % (self.node, self.final)}

    def abort(self):
        with self.cv:
            self.aborted = True
            self.cv.notify_all()
        if self.hasher is not None:
            self.hasher.join(timeout=10)
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


Writer = ray.remote(num_cpus=0, max_restarts=0, max_task_retries=0, max_concurrency=64)(WriterImpl)
HERE = ray.get_runtime_context().get_node_id()  # the driver's node

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def reason(e):
    s = ANSI.sub("", "%s: %s" % (type(e).__name__, e))
    return " ".join(s.split())[:1500]


class Target:
    def __init__(self, spec):
        self.id = spec["id"]
        self.spec = spec
        self.actor = None
        self.info_ref = None
        self.pending = {}  # ObjectRef -> chunk
        self.next = 0  # next chunk to hand to the writer
        self.completed = set()  # chunks written beyond low
        self.low = 0  # chunks 0..low-1 are written
        self.done = 0
        self.last = time.monotonic()
        self.outcome = None
        self.started = time.monotonic()
        self.ready = False  # the writer's info came back
        self.local = None  # WriterImpl in this process (a target on the driver's node)
        self.local_lock = threading.Lock()
        self.local_err = None


targets = [Target(s) for s in CFG["targets"]]
WT = {}
ACC = {"get": 0.0, "put": 0.0}
refs = {}  # chunk -> ObjectRef, until every live writer has it
refs_cv = threading.Condition()
read_error = []
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
    if state != "done" and t.local is not None:
        with t.local_lock:
            t.local.abort()
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
    with refs_cv:
        refs_cv.notify_all()  # the slowest writer may have changed


def live():
    return [t for t in targets if t.outcome is None]


def abort_all():
    refs = []
    for t in live():
        if t.local is not None:
            with t.local_lock:
                t.local.abort()
        if t.actor is not None:
            refs.append(t.actor.abort.remote())
    try:
        ray.wait(refs, num_returns=len(refs), timeout=2)
    except Exception:  # noqa: BLE001
        pass


# 2. One writer per target, pinned to its node. Their processes start while
# the reader already pulls and ray.puts the first chunks.
for t in targets:
    if t.spec["ray_node_id"] == HERE:
        # On the driver's own node the driver writes: no worker process to
        # start, and the bytes need no trip through the object store.
        try:
            t.local = WriterImpl(t.spec["template"], t.spec.get("vars", {}))
            t.ready = True
        except Exception as e:  # noqa: BLE001
            finish(t, "failed", reason(e))
        continue
    try:
        strategy = NodeAffinitySchedulingStrategy(node_id=t.spec["ray_node_id"], soft=False)
        t.actor = Writer.options(scheduling_strategy=strategy).remote(t.spec["template"], t.spec.get("vars", {}))
        t.info_ref = t.actor.info.remote()
        by_ref[t.info_ref] = t
    except Exception as e:  # noqa: BLE001
        finish(t, "failed", reason(e))
phase("opened")

# 3. The source, read once, chunk by chunk, up to PREFETCH chunks ahead of the
# slowest writer (fetch="object-store"); with fetch="direct" every writer
# pulls its own copy and there is no reader. A driver on the daemon's machine
# reads the stored file from disk when the path it opens is the very file the
# plugin named (device, inode, size, mtime); otherwise it pulls over HTTP.
def open_source():
    s = CFG.get("source")
    if not s:
        return None
    try:
        fd = os.open(s["path"], os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    st = os.fstat(fd)
    if (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns) != (s["dev"], s["ino"], SIZE, s["mtime_ns"]):
        os.close(fd)
        return None
    if hasattr(os, "posix_fadvise"):
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
    return fd


SOURCE_FD = open_source()
ACC["source"] = "local" if SOURCE_FD is not None else "http"
ACC["source_bytes"] = 0


def low_water():
    ls = [t.low for t in targets if t.outcome is None]
    return min(ls) if ls else NCHUNKS


def reader(put):
    """Pulls the chunks and hands them to store() in a thread of its own, so
    the next request is on the wire while a chunk is written and put."""
    handoff = queue.Queue(maxsize=2)
    th = threading.Thread(target=store, args=(put, handoff), daemon=True)
    th.start()
    conn = Conn(timeout=60)
    try:
        for i in range(NCHUNKS):
            with refs_cv:
                while i - low_water() >= PREFETCH and not (stopping.is_set() or lost.is_set()):
                    refs_cv.wait(0.5)
            if stopping.is_set() or lost.is_set() or not live():
                break
            if not put and not any(t.local is not None for t in live()):
                break
            lo = i * CHUNK
            hi = min(SIZE, lo + CHUNK) - 1
            a0 = time.time()
            if SOURCE_FD is not None:
                data = os.pread(SOURCE_FD, hi - lo + 1, lo)
                if len(data) != hi - lo + 1:
                    raise OSError("chunk %d: %d bytes read from %s, want %d" % (i, len(data), CFG["source"]["path"], hi - lo + 1))
            else:
                status, crange, data = conn.request("GET", "/file", headers={"Range": "bytes=%d-%d" % (lo, hi)})
                if status != 206 or len(data) != hi - lo + 1:
                    raise OSError("chunk %d: HTTP %d, %d bytes (%s)" % (i, status, len(data), crange))
            ACC["source_bytes"] += len(data)
            if i == 0:
                phase("chunk0")
            ACC["get"] += time.time() - a0
            handoff.put((i, data))
            del data
    except Exception as e:  # noqa: BLE001
        with refs_cv:
            read_error.append(e)
            refs_cv.notify_all()
    handoff.put(None)


def store(put, handoff):
    """ray.puts each pulled chunk for the writers (put) first, then hands it
    to local_writer() for the targets on this node: the remote writers,
    which wait for the object store, never wait for this node's disk."""
    local = None
    if any(t.local is not None for t in live()):
        local = queue.Queue()
        lt = threading.Thread(target=local_writer, args=(local,), daemon=True)
        lt.start()
    try:
        while True:
            item = handoff.get()
            if item is None:
                break
            i, data = item
            if put:
                a1 = time.time()
                # A PickleBuffer goes into the object store out of band: put
                # copies the bytes once, and a writer's ray.get maps the
                # store's copy instead of copying it into a new bytes.
                ref = ray.put(pickle.PickleBuffer(data))
                ACC["put"] += time.time() - a1
                with refs_cv:
                    refs[i] = ref
                    refs_cv.notify_all()
            if local is not None:
                local.put((i, data))
            del data, item
        phase("put_all")
    except Exception as e:  # noqa: BLE001 - ray.put failed (object store full...)
        with refs_cv:
            read_error.append(e)
            refs_cv.notify_all()
    if local is not None:
        local.put(None)


def local_writer(local):
    """Writes each chunk for the targets on this node (the driver's)."""
    while True:
        item = local.get()
        if item is None:
            return
        i, data = item
        for t in live():
            if t.local is None:
                continue
            with t.local_lock:
                if t.outcome is not None:
                    continue
                try:
                    n = t.local.write(i, data)
                except Exception as e:  # noqa: BLE001 - disk full...
                    t.local_err = reason(e)
                    continue
            with progress_lock:
                t.done += n
                t.low = i + 1
            t.last = time.monotonic()
        del data, item
        with refs_cv:
            refs_cv.notify_all()


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


def dispatch():
    """Hands every live writer its next chunks, up to WINDOW in flight."""
    for t in live():
        while t.local is None and len(t.pending) < WINDOW and t.next < NCHUNKS:
            if FETCH == "direct":
                w = t.actor.fetch.remote(t.next)
            else:
                with refs_cv:
                    ref = refs.get(t.next)
                if ref is None:
                    break
                w = t.actor.write.remote(t.next, ref)
            t.pending[w] = t.next
            by_ref[w] = t
            t.next += 1


def collect(timeout):
    """Takes finished calls (writes, the writers' info); False when nothing
    is in flight."""
    if not by_ref:
        return False
    ready, _ = ray.wait(list(by_ref), num_returns=1, timeout=timeout)
    if ready:
        ready, _ = ray.wait(list(by_ref), num_returns=len(by_ref), timeout=0)
    for ref in ready:
        t = by_ref.pop(ref, None)
        if t is None or t.outcome is not None:
            continue
        if ref is t.info_ref:
            try:
                info = ray.get(ref)
                t.ready, t.last = True, time.monotonic()
                if info["node"] != t.spec["ray_node_id"]:
                    finish(t, "failed", "writer landed on node %s, not %s" % (info["node"], t.spec["ray_node_id"]))
            except Exception as e:  # noqa: BLE001 - the constructor failed, or its node died
                finish(t, "failed", reason(e))
            continue
        idx = t.pending.pop(ref, None)
        try:
            n = ray.get(ref)
            with progress_lock:
                t.done += n
            t.last = time.monotonic()
            t.completed.add(idx)
            while t.low in t.completed:
                t.completed.discard(t.low)
                t.low += 1
        except Exception as e:  # noqa: BLE001 - ActorDiedError, node death, disk full...
            finish(t, "failed", reason(e))
    # Chunks every live writer has are dropped from the object store.
    lw = low_water()
    with refs_cv:
        for i in [i for i in refs if i < lw]:
            del refs[i]
        refs_cv.notify_all()
    return True


if FETCH != "direct" or any(t.local is not None for t in live()):
    threading.Thread(target=reader, args=(FETCH != "direct",), daemon=True).start()
threading.Thread(target=reporter, daemon=True).start()

try:
    while live() and not (stopping.is_set() or lost.is_set()):
        for t in live():
            if t.id in cancel_asked:
                finish(t, "cancelled", "cancelled")
            elif t.local_err is not None:
                finish(t, "failed", t.local_err)
        with refs_cv:
            err = read_error[0] if read_error else None
        if err is not None:
            lost.set()
            emit("FATAL", {"error": "reading the source (%s): %s" % (ACC["source"], reason(err)), "lost": True})
            break
        if all(t.low >= NCHUNKS for t in live()) and not any(t.info_ref in by_ref for t in live()):
            break
        dispatch()
        if not collect(0.2):
            with refs_cv:
                refs_cv.wait(0.2)  # waiting for the reader
        if IDLE > 0:
            now = time.monotonic()
            for t in live():
                if t.ready and t.pending and now - t.last > IDLE:
                    finish(t, "failed", "no progress for %.0f s (idle timeout)" % IDLE)
        for t in live():
            if not t.ready and time.monotonic() - t.started > max(IDLE, 120):
                finish(t, "failed", "its writer actor did not start in %.0f s" % max(IDLE, 120))
    phase("written")
    # 4. Verify, sync and rename on every node.
    commits, local_commits = {}, {}
    if not (stopping.is_set() or lost.is_set()):
        for t in live():
            if t.local is not None:
                box = {}

                def run(t=t, box=box):
                    try:
                        box["res"] = t.local.commit()
                    except Exception as e:  # noqa: BLE001
                        box["err"] = reason(e)

                th = threading.Thread(target=run, daemon=True)
                th.start()
                local_commits[th] = (t, box)
            else:
                commits[t.actor.commit.remote()] = t
    while (commits or local_commits) and not (stopping.is_set() or lost.is_set()):
        if commits:
            ready, _ = ray.wait(list(commits), num_returns=1, timeout=0.05 if local_commits else 0.5)
        else:
            ready = []
            time.sleep(0.02)
        for ref in ready:
            t = commits.pop(ref)
            try:
                finish(t, "done", res=ray.get(ref))
            except Exception as e:  # noqa: BLE001
                finish(t, "failed", reason(e))
        for th in [th for th in local_commits if not th.is_alive()]:
            t, box = local_commits.pop(th)
            if "res" in box:
                finish(t, "done", res=box["res"])
            else:
                finish(t, "failed", box.get("err", "commit failed"))
except Exception as e:  # noqa: BLE001
    emit("FATAL", {"error": reason(e)})
    abort_all()
    sys.exit(1)

phase("committed")
ACC["cpu"] = os.times()[0] + os.times()[1]
emit("TIMING", {"phases": PHASES, "writers": WT, "acc": ACC})
if stopping.is_set() or lost.is_set():
    # Stopped (cancel) or the plugin went away: remove every part file and
    # leave the targets without an outcome, so a resume delivers them again.
    abort_all()
    sys.exit(5 if stopping.is_set() else 4)
sys.exit(0)
