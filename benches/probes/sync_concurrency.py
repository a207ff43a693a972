#!/usr/bin/env python3
"""Whether this disk gains from more than one fdatasync in flight on one
file: T threads, each looping (pwrite 64 KiB into its own region of one
zero-filled 64 MiB file + fdatasync) for SECONDS, T = 1, 2, 3, 1, 2.

    python3 benches/probes/sync_concurrency.py DIR [SECONDS]

Prints the syncs per second of all threads together. On the 2-vCPU VM of
docs/PERFORMANCE.md (2026-12-02): 4,471 / 6,665 / 7,606 / 4,881 / 7,016,
so two syncs in flight made 1.45x the syncs of one.
"""
import os
import sys
import threading
import time

directory = sys.argv[1]
seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 3.0
path = os.path.join(directory, "sync_concurrency.dat")
fd = os.open(path, os.O_CREAT | os.O_RDWR | os.O_TRUNC, 0o644)
os.write(fd, b"\0" * (64 << 20))
os.fsync(fd)


def worker(tid, out):
    buf = bytes([tid + 1]) * 65536
    base = tid * (16 << 20)
    count = 0
    start = time.time()
    while time.time() - start < seconds:
        os.pwrite(fd, buf, base + (count % 128) * 65536)
        os.fdatasync(fd)
        count += 1
    out[tid] = count


try:
    for threads in (1, 2, 3, 1, 2):
        out = {}
        workers = [threading.Thread(target=worker, args=(i, out)) for i in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        print(f"{threads} thread(s): {sum(out.values()) / seconds:,.0f} syncs/s")
finally:
    os.close(fd)
    os.unlink(path)
