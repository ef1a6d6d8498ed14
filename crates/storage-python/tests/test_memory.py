"""A 1 GiB save through a file object, and its read back, stream: the peak RSS of a fresh process stays bounded.

Measured in a subprocess (its own peak, not pytest's), on disk (the RGW's store is in memory and shared).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

GIB = 1 << 30
# Generous: measured 37 MiB (the interpreter and the runtime); holding the file would take over 1 GiB.
PEAK_RSS_BOUND_MIB = 128

CHILD = textwrap.dedent(
    """
    import io, sys
    import storage_rs

    def peak_rss_mib():
        '''VmHWM: this process's own peak, unlike ru_maxrss, which keeps the parent's across fork and exec.'''
        with open("/proc/self/status") as status:
            line = next(line for line in status if line.startswith("VmHWM:"))
        return int(line.split()[1]) // 1024

    GIB = 1 << 30

    class Zeros(io.RawIOBase):
        '''1 GiB made as it is read, so only the save can hold it whole.'''
        def __init__(self):
            self.left = GIB
        def readable(self):
            return True
        def read(self, size=-1):
            size = self.left if size < 0 else min(size, self.left)
            self.left -= size
            return bytes(size)

    storage = storage_rs.Storage({"backend": "fs", "location": sys.argv[1], "create": True})
    name = storage.save("big.bin", Zeros())
    saved_peak = peak_rss_mib()
    total = 0
    with storage.open(name) as file:
        while chunk := file.read(4 << 20):
            total += len(chunk)
    print(storage.size(name), total, saved_peak, peak_rss_mib())
    """
)


def test_a_1_gib_save_and_read_stream_in_bounded_memory(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path)], capture_output=True, text=True, check=False, timeout=600
    )
    assert result.returncode == 0, result.stderr
    size, read, saved_peak_mib, peak_mib = (int(field) for field in result.stdout.split())
    print(f"1 GiB save: peak RSS {saved_peak_mib} MiB after the save, {peak_mib} MiB after reading it back")
    assert size == read == GIB
    assert (tmp_path / "big.bin").stat().st_size == GIB
    assert peak_mib < PEAK_RSS_BOUND_MIB, f"peak RSS {peak_mib} MiB"
