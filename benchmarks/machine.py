"""What machine a benchmark ran on, for the figures it prints (shared by the benchmark scripts)."""

from __future__ import annotations

import os
import platform
import subprocess


def cpu_model() -> str:
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        return next(line.split(":", 1)[1].strip() for line in lscpu.splitlines() if line.startswith("Model name"))
    except (OSError, StopIteration):
        return platform.processor() or "unknown CPU"


def describe(extra: str = "") -> str:
    """CPU model, core count, load average now (figures on a busy machine say so), and `extra`."""
    load = f"load average {os.getloadavg()[0]:.1f} at start"
    return ", ".join(part for part in (cpu_model(), f"{os.cpu_count()} CPUs", load, extra) if part)
