"""Helpers for the fault-injection tests: real faults, made the same way in every test."""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

_PR_CAPBSET_DROP = 24
_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH = 1, 2


def snapshot(folder: Path, skip: tuple[str, ...] = (".lock",)) -> dict[str, str]:
    """name -> sha256 of every file in `folder` (the lock file holds its last holder's pid: skipped)."""
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.iterdir()) if p.is_file() and p.name not in skip
    }


def _drop_file_override() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH):
        if libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) refused")


@functools.cache
def permission_bits_bind() -> Callable[[], None] | None:
    """A `preexec_fn` under which file permission bits bind the child, even when the tests run as root.

    chmod does not stop root: CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH let it read and write
    anything. Dropping both from the capability bounding set before exec takes them from
    the child (a root exec gets the bounding set as its capabilities), so mode 000 and
    read-only folders refuse it exactly as they refuse a normal user: a real EACCES, not
    a simulated one. Returns None when no preexec_fn is needed (not root); raises OSError
    when the kernel or container refuses the drop (the caller skips then)."""
    if os.geteuid() != 0:
        return None
    with tempfile.TemporaryDirectory() as scratch:
        probe = Path(scratch) / "probe"
        probe.write_bytes(b"x")
        probe.chmod(0)
        try:
            result = subprocess.run([sys.executable, "-c", f"open({str(probe)!r}).read()"],
                                    preexec_fn=_drop_file_override, capture_output=True, timeout=60)
        except subprocess.SubprocessError as error:
            raise OSError(f"cannot drop root's file-permission override here ({error})") from None
    if result.returncode == 0:
        raise OSError("dropping root's file-permission override did not take effect here")
    return _drop_file_override
