"""Where a run happened: package versions, machine, torch build, source commit.

These fill a result's `meta_info` and `run_info.git`, so a number can be traced back to the code and
hardware that produced it years later.
"""

from __future__ import annotations

import functools
import hashlib
import os
import platform
import subprocess
import sys
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
# scripts/setup.sh copies the lock it installed from here, inside the virtual environment.
LOCK_COPY = "peftbench-lock"
UNLOCKED = "unlocked"
SHOWN_DIFFERENCES = 3


def package_info() -> dict:
    """Installed version of each relevant package, None when it is not installed; and the lock the
    environment was installed from (`peftbench-lock`, see lock_info)."""
    # importlib.metadata reads the installed metadata only: importing bitsandbytes or diffusers
    # just to ask for a version can take seconds or fail on machines without CUDA.
    info = {}
    for name in PACKAGES:
        try:
            info[f"{name}-version"] = metadata.version(name)
        except metadata.PackageNotFoundError:
            info[f"{name}-version"] = None
    info["peftbench-lock"] = lock_info()
    return info


def _canonical(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def installed_versions() -> dict[str, str]:
    """{canonical name: version} of every installed distribution."""
    return {_canonical(d.metadata["Name"]): d.version for d in metadata.distributions() if d.metadata["Name"]}


def lock_differences(lock_text: str, installed: dict[str, str]) -> list[str]:
    """'name installed (locked version)' for each package of a lock that applies to this Python and
    platform and is not installed at its locked version."""
    from packaging.requirements import Requirement
    from packaging.version import Version

    differences = []
    for line in lock_text.splitlines():
        line = line.split("#", 1)[0].strip()  # markers never hold a '#'; annotations follow one
        if not line:
            continue
        req = Requirement(line)
        if req.marker is not None and not req.marker.evaluate():
            continue
        locked = next(iter(req.specifier)).version
        have = installed.get(_canonical(req.name))
        if have is None or Version(have) != Version(locked):
            differences.append(f"{req.name} {have or 'missing'} (locked {locked})")
    return differences


@functools.lru_cache(maxsize=1)
def lock_info(prefix: str | None = None) -> str:
    """Which committed lock this environment was installed from: 'locks/<file> sha256:<16 hex>' when
    every locked package is installed at its locked version; 'unlocked' for an environment no lock
    made (a plain pip install, `make test-latest`); 'unlocked: <lock> changed since: ...' when a
    package was upgraded or removed after setup.sh installed the lock."""
    copies = sorted((Path(prefix or sys.prefix) / LOCK_COPY).glob("*.txt"))
    if not copies:
        return UNLOCKED
    text = copies[0].read_bytes()
    label = f"locks/{copies[0].name} sha256:{hashlib.sha256(text).hexdigest()[:16]}"
    try:
        differences = lock_differences(text.decode("utf-8"), installed_versions())
    except (ImportError, ValueError) as err:  # no `packaging`, or a copy that is not a lock
        return f"{UNLOCKED}: {label} unreadable ({type(err).__name__})"
    if not differences:
        return label
    shown = ", ".join(differences[:SHOWN_DIFFERENCES])
    more = f" and {len(differences) - SHOWN_DIFFERENCES} more" if len(differences) > SHOWN_DIFFERENCES else ""
    return f"{UNLOCKED}: {label} changed since: {shown}{more}"


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
