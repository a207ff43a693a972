"""Drops the page cache of every groupwal segment under a running
`compare` (`/work/benchtmp/groupwal-compare-*`) every 20 ms for SECONDS, to see
what writing into warm, just-freed pages instead of newly allocated ones
is worth to a lone writer. A probe, not a design: it drops the page being
written too, which a library must not.

Usage: python3 benches/probes/drop_behind.py SECONDS (started beside a compare run)
"""
import os, glob, time, sys
end = time.time() + float(sys.argv[1])
while time.time() < end:
    for p in glob.glob('/work/benchtmp/groupwal-compare-*/**/*.wal', recursive=True):
        try:
            fd = os.open(p, os.O_RDONLY)
            size = os.fstat(fd).st_size
            # drop everything but the last 8 MiB written region guess: whole file minus nothing for sealed; keep it simple: drop all
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            os.close(fd)
        except OSError:
            pass
    time.sleep(0.02)
