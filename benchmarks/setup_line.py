"""The line every benchmark prints first: when, on what machine and load, with which software."""

from __future__ import annotations

import datetime as dt
import os
import platform
from importlib import metadata


def setup_line() -> str:
    import torch

    versions = ", ".join(f"{p} {metadata.version(p)}" for p in ("torch", "transformers", "peft"))
    return (f"date: {dt.datetime.now(dt.timezone.utc).isoformat(timespec='seconds')}; "
            f"{platform.processor() or platform.machine()}, {os.cpu_count()} cpus, load {os.getloadavg()[0]:.1f}; "
            f"{versions}; torch threads {torch.get_num_threads()}")
