"""Baseline of `make bench` item 6: broadcast a file onto Ray nodes by hand.

Run as a Ray job on the head node (the bench submits it through the Jobs API,
as CastRay's ray backend submits its driver):

    python ray_broadcast.py FILE DEST_ROOT CHUNK_SIZE NODE_ID [NODE_ID ...]

It reads FILE in CHUNK_SIZE pieces, ray.put()s each, and starts one task per
node, pinned there (NodeAffinitySchedulingStrategy, soft=False), that
ray.get()s the chunks (a few at a time), writes them to
DEST_ROOT/<node id>/<file name>, hashes them with SHA-256 and fsyncs the file.
It prints one line per node:

    RESULT <node id asked> <node id that ran the task> <path> <bytes> <sha256>

and then `DONE <unix time>`: the moment every copy was written, which the
bench uses as the baseline's end (the driver's own exit is not counted, as
CastRay's transfer completes before its job exits).

Standard library and ray only.
"""

import hashlib
import os
import sys
import time

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

WINDOW = 4  # chunks fetched at once by each writer


@ray.remote(num_cpus=0)
def write(refs, folder, name):
    began = time.time()
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, name)
    h = hashlib.sha256()
    n = 0
    with open(path, "wb") as f:
        for i in range(0, len(refs), WINDOW):
            for chunk in ray.get(refs[i:i + WINDOW]):
                f.write(chunk)
                h.update(chunk)
                n += len(chunk)
        f.flush()
        os.fsync(f.fileno())
    return ray.get_runtime_context().get_node_id(), path, n, h.hexdigest(), began


def main():
    src, root, chunk = sys.argv[1], sys.argv[2], int(sys.argv[3])
    nodes = sys.argv[4:]
    print("PHASE start %.6f" % time.time(), flush=True)
    ray.init()
    print("PHASE init %.6f" % time.time(), flush=True)
    refs = []
    with open(src, "rb") as f:
        while True:
            b = f.read(chunk)
            if not b:
                break
            refs.append(ray.put(b))
    print("PHASE put_all %.6f" % time.time(), flush=True)
    name = os.path.basename(src)
    tasks = [
        write.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False)).remote(
            refs, os.path.join(root, node), name)
        for node in nodes
    ]
    results = ray.get(tasks)
    done = time.time()
    for i, (node, (ran_on, path, n, sha, began)) in enumerate(zip(nodes, results)):
        print("RESULT", node, ran_on, path, n, sha, flush=True)
        print("PHASE task%d_start %.6f" % (i, began), flush=True)
    print("DONE %.6f" % done, flush=True)


if __name__ == "__main__":
    main()
