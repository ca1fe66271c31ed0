"""The machine a run trains on: free cores, threads, the device and the precision (and why)."""

from __future__ import annotations

import os
import time

import torch

from charcomplete.core.errors import CharcompleteError


def free_cores(sample_s: float = 0.25) -> int:
    """Cores not busy with other work right now (at least 1).

    On a machine whose cores are all taken, an OpenMP team wider than the free cores
    waits at every barrier for a descheduled thread: a GRU step then runs many times
    slower (measured here: 177 ms on 2 threads against 34 ms on 1, with one core busy).
    "Right now" is a short sample of /proc/stat: the load average lags by a minute, so
    just after another job ends it would still call its cores busy (a benchmark run
    here got 1 thread of 2 that way and trained at 0.6 times the speed)."""
    cores = os.cpu_count() or 1
    busy = _busy_cores(sample_s)
    if busy is None:
        try:
            busy = os.getloadavg()[0]
        except OSError:
            busy = 0.0
    return max(1, min(cores, cores - int(busy + 0.5)))


def _busy_cores(sample_s: float) -> float | None:
    """Cores' worth of CPU time spent on anything but idle over `sample_s` seconds (Linux), else None."""

    def totals() -> tuple[int, int]:
        with open("/proc/stat") as stat:
            fields = [int(n) for n in stat.readline().split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
        return sum(fields[:8]), idle

    try:
        total_0, idle_0 = totals()
        time.sleep(sample_s)
        total_1, idle_1 = totals()
    except (OSError, ValueError, IndexError):
        return None
    elapsed = total_1 - total_0
    if elapsed <= 0:
        return None
    return (os.cpu_count() or 1) * (elapsed - (idle_1 - idle_0)) / elapsed


def pick_threads(choice: int | None) -> int:
    """Set torch's intra-op threads: the user's number, an OMP_NUM_THREADS setting, or the free cores."""
    if choice is None and not os.environ.get("OMP_NUM_THREADS"):
        choice = free_cores()
    if choice is not None:
        torch.set_num_threads(max(1, choice))
    return torch.get_num_threads()


PRECISIONS = ("auto", "fp32", "bf16")
_NATIVE_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


def cpu_flags() -> set[str]:
    """The CPU's feature flags (Linux /proc/cpuinfo); empty where they cannot be read."""
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def choose_precision(choice: str, device: torch.device) -> tuple[str, str]:
    """(precision, why) for `--precision auto|fp32|bf16` on `device`.

    auto takes bf16 autocast only where the hardware computes it natively: emulated bf16
    runs about 10x slower than fp32 (measured on a CPU without AVX512-BF16), while native
    bf16 trains 1.9x faster at no loss in validation bpc (BENCHMARKS.md, "Training")."""
    if choice not in PRECISIONS:
        raise CharcompleteError(f"unknown --precision {choice!r}; choose auto, fp32 or bf16")
    if choice != "auto":
        return choice, "as asked"
    if device.type == "cuda":
        if torch.cuda.is_bf16_supported():
            return "bf16", "this GPU computes bf16 natively"
        return "fp32", "this GPU has no native bf16"
    native = sorted(_NATIVE_BF16_FLAGS & cpu_flags())
    if native:
        return "bf16", f"this CPU computes bf16 natively ({', '.join(native)})"
    return "fp32", "this CPU has no native bf16 (AVX512-BF16 or AMX), where bf16 would be emulated and slow"


def pick_device(choice: str) -> torch.device:
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if choice == "cuda" and not torch.cuda.is_available():
        raise CharcompleteError("--device cuda was asked for, but PyTorch sees no CUDA GPU on this machine")
    if choice not in ("cpu", "cuda"):
        raise CharcompleteError(f"unknown device {choice!r}; choose auto, cpu or cuda")
    return torch.device(choice)
