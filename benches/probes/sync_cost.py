#!/usr/bin/env python3
"""What one group's write + fdatasync costs on this disk, by how the file's
space was reserved, and what zero-filling a spare beside it adds.

    python3 benches/probes/sync_cost.py DIR [SIZE] [COUNT]

Three loops of COUNT x (pwrite SIZE bytes at the next offset + fdatasync),
each on a fresh 128 MiB file in DIR:
  zeroed     the file written with zeros and synced first (written extents:
             the sync flushes data only)
  fallocated the file reserved with posix_fallocate (unwritten extents:
             every sync also commits their conversion)
  zeroed+128K-beside  as zeroed, and after each sync a 128 KiB O_DIRECT
             write of zeros to another file (a spare being zero-filled,
             paced one write per group, outside the timed sync)
Prints the sync's p50/p90/p99/mean. Used in docs/PERFORMANCE.md.
"""
import mmap
import os
import sys
import time


def loop(d, size, count, reserve, beside):
    path = os.path.join(d, "sync-cost.dat")
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC)
    zfd = None
    try:
        if reserve == "zeroed":
            chunk = b"\0" * (1 << 20)
            for _ in range(128):
                os.write(fd, chunk)
        else:
            os.posix_fallocate(fd, 0, 128 << 20)
        os.fsync(fd)
        if beside:
            zpath = os.path.join(d, "sync-cost-spare.dat")
            zfd = os.open(zpath, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_DIRECT)
            os.posix_fallocate(zfd, 0, count * beside + beside)
            zbuf = mmap.mmap(-1, beside)
        buf = b"x" * size
        off, zoff, syncs = 0, 0, []
        for _ in range(count):
            os.pwrite(fd, buf, off)
            t = time.perf_counter()
            os.fdatasync(fd)
            syncs.append(time.perf_counter() - t)
            off += size
            if beside:
                os.pwritev(zfd, [zbuf], zoff)
                zoff += beside
            time.sleep(0.0003)  # the rest of a group's cycle
        syncs.sort()
        n = len(syncs)
        return "p50 %.3f  p90 %.3f  p99 %.3f  mean %.3f ms" % (
            syncs[n // 2] * 1e3, syncs[n * 9 // 10] * 1e3,
            syncs[n * 99 // 100] * 1e3, sum(syncs) / n * 1e3)
    finally:
        os.close(fd)
        os.unlink(path)
        if zfd is not None:
            os.close(zfd)
            os.unlink(os.path.join(d, "sync-cost-spare.dat"))


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else "."
    size = int(sys.argv[2]) if len(sys.argv) > 2 else 65536
    count = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
    for name, reserve, beside in (("zeroed", "zeroed", 0),
                                  ("fallocated", "fallocated", 0),
                                  ("zeroed+128K-beside", "zeroed", 128 << 10)):
        print("%-20s %d B: sync %s" % (name, size, loop(d, size, count, reserve, beside)))


if __name__ == "__main__":
    main()
