"""A lone writer's storage pattern, bare: N records of 16 KiB + 60 bytes, each
written and fdatasync-ed, in one of three ways: appended to a new file
(append), written into a file zero-filled with O_DIRECT (zeroed), or the
same with the last page of each write padded with zeros (zeroed-pad:
groupwal's layout). Prints the p50 of the write and of the sync.

Usage: python3 benches/probes/w1_pattern.py DIR N append|zeroed|zeroed-pad
"""
import os, time, sys, mmap
d = sys.argv[1]; n = int(sys.argv[2]); mode = sys.argv[3]
rec = 16384 + 60
path = os.path.join(d, "probe-" + mode)
if os.path.exists(path): os.unlink(path)
size = 64 << 20
if mode in ("zeroed", "zeroed-pad"):
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_DIRECT, 0o644)
    buf = mmap.mmap(-1, 1 << 20)
    for off in range(0, size, 1 << 20):
        os.pwrite(fd, buf, off)
    os.fsync(fd); os.close(fd)
fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o644)
data = os.urandom(rec)
off = 0
wt = []; st = []
for i in range(n):
    t0 = time.perf_counter_ns()
    if mode == "zeroed-pad":
        end = off + rec; inpage = end % 4096; last = end - inpage
        head = last - off
        os.pwrite(fd, data[:head], off)
        os.pwrite(fd, data[head:] + b"\0" * (4096 - inpage), last)
    else:
        os.pwrite(fd, data, off)
    t1 = time.perf_counter_ns()
    os.fdatasync(fd)
    t2 = time.perf_counter_ns()
    off += rec
    wt.append(t1 - t0); st.append(t2 - t1)
wt.sort(); st.sort()
print(mode, "write p50 %.1f us  sync p50 %.1f us  total p50 %.1f" % (wt[n//2]/1e3, st[n//2]/1e3, (wt[n//2]+st[n//2])/1e3))
os.close(fd); os.unlink(path)
