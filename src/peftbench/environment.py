"""Where a run happened: package versions, machine, torch build, source commit.

These fill a result's `meta_info` and `run_info.git`, so a number can be traced back to the code and
hardware that produced it years later.
"""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

# Same key style as the reference suite ("torch-version"), so its tools read our files.
PACKAGES = (
    "peftbench",
    "torch",
    "transformers",
    "peft",
    "datasets",
    "accelerate",
    "bitsandbytes",
    "gguf",
    "diffusers",
)
GIT_TIMEOUT_S = 5


def package_info() -> dict:
    """Installed version of each relevant package, None when it is not installed."""
    # importlib.metadata reads the installed metadata only: importing bitsandbytes or diffusers
    # just to ask for a version can take seconds or fail on machines without CUDA.
    info = {}
    for name in PACKAGES:
        try:
            info[f"{name}-version"] = metadata.version(name)
        except metadata.PackageNotFoundError:
            info[f"{name}-version"] = None
    return info


def _cpu_brand() -> str:
    # platform.processor() is just "x86_64" on Linux; the model name tells machines apart.
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and value.strip():
                    return value.strip()
    except OSError:
        pass
    return platform.processor()


def system_info() -> dict:
    """Operating system, CPU, thread settings and the accelerator used."""
    import torch

    uname = platform.uname()
    if torch.cuda.is_available():
        accelerator = torch.cuda.get_device_name(torch.cuda.current_device())
    else:
        accelerator = f"cpu: {_cpu_brand()}"
    return {
        "system": uname.system,
        "release": uname.release,
        "version": uname.version,
        "machine": uname.machine,
        "processor": uname.processor,
        "python_version": platform.python_version(),
        "cpu_count": os.cpu_count(),
        # CPU timings depend on this as much as on the core count.
        "torch_num_threads": torch.get_num_threads(),
        "accelerator": accelerator,
    }


def pytorch_info() -> str:
    """torch's build configuration (CUDA, BLAS, compiler flags), as torch prints it."""
    import torch

    return torch.__config__.show()


def _git(*args: str) -> subprocess.CompletedProcess | None:
    try:
        # --no-optional-locks: `status` would otherwise refresh the index under .git/index.lock, and a
        # run stopped at that moment leaves the lock behind and the user's next `git commit` fails.
        return subprocess.run(
            ["git", "--no-optional-locks", *args],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_S,
        )
    except (OSError, subprocess.SubprocessError):  # git missing, hung, or folder gone
        return None


def git_info() -> dict:
    """Commit and dirty flag of the checkout holding this source; None where unknown. Never raises."""
    unknown = {"commit": None, "dirty": None}
    # A non-editable install inside some other project's (ignored) .venv would otherwise report that
    # project's commit. check-ignore exits 0 when the path is ignored, 1 when not, 128 outside a repo.
    ignored = _git("check-ignore", "-q", str(Path(__file__).resolve()))
    if ignored is None or ignored.returncode != 1:
        return unknown
    status = _git("status", "--porcelain")
    if status is None or status.returncode != 0:
        return unknown
    head = _git("rev-parse", "--verify", "-q", "HEAD")
    # A repository without commits has no HEAD, but its dirty flag is still meaningful.
    commit = head.stdout.strip() if head is not None and head.returncode == 0 else None
    return {"commit": commit or None, "dirty": bool(status.stdout.strip())}
