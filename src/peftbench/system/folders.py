"""The folders peftbench writes to that the environment chooses — its cache and the Hub's — decided in
one place, so a run and `peftbench doctor` cannot disagree about them.

An empty variable means unset (`PEFTBENCH_CACHE=` is the default cache, not the working directory). A
folder that cannot work — a path through a regular file, a folder without write permission — is one
line naming the variable before any work starts (`check_caches`), never a traceback mid-run. Nothing
here creates a folder: the doctor looks without touching, a run creates on first use.
"""

from __future__ import annotations

import os
from pathlib import Path

from peftbench.errors import UserError


# Variables naming folders that peftbench or the Hugging Face libraries write to: set but empty, the
# libraries would read "" as the working directory.
FOLDER_VARIABLES = ("PEFTBENCH_CACHE", "HF_HOME", "HF_HUB_CACHE", "HF_DATASETS_CACHE", "TRANSFORMERS_CACHE")


def unset_empty_variables() -> None:
    """Remove folder variables that are set but blank, so every library reads them as unset (called by
    the CLI and a sweep's workers before anything imports huggingface_hub, which reads them at import)."""
    for name in FOLDER_VARIABLES:
        if name in os.environ and not os.environ[name].strip():
            del os.environ[name]


def env_path(name: str) -> Path | None:
    """The path a variable names; None when unset or empty (blank counts as empty)."""
    value = os.environ.get(name, "")
    return Path(value).expanduser() if value.strip() else None


def home() -> Path:
    """$HOME, or the account's home when $HOME is unset or empty (Path.home() would give "" then)."""
    found = env_path("HOME")
    if found is not None:
        return found
    try:
        import pwd

        return Path(pwd.getpwuid(os.getuid()).pw_dir)
    except (ImportError, KeyError):  # not POSIX, or an account without a passwd entry
        return Path.home()


def cache_dir() -> Path:
    """peftbench's cache: converted models, tokenised data, baselines, method checks."""
    return env_path("PEFTBENCH_CACHE") or home() / ".cache" / "peftbench"


def hub_home() -> Path:
    return env_path("HF_HOME") or home() / ".cache" / "huggingface"


def hub_cache() -> Path:
    """Where huggingface_hub keeps downloaded models ($HF_HUB_CACHE, else $HF_HOME/hub)."""
    return env_path("HF_HUB_CACHE") or hub_home() / "hub"


# label -> (variable(s) that choose it, the folder)
def caches() -> dict[str, tuple[str, Path]]:
    return {"peftbench cache": ("$PEFTBENCH_CACHE", cache_dir()),
            "Hub cache": ("$HF_HUB_CACHE / $HF_HOME", hub_cache())}


def problem(folder: Path) -> str | None:
    """Why `folder` cannot be used as a folder to write in, or None. Looks only: creates nothing."""
    path = folder.absolute()
    if path.exists() and not path.is_dir():
        return "exists and is not a folder"
    parent = path
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        return f"{parent} is a file, not a folder"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"{parent} is not writable"
    return None


def check_caches() -> None:
    """UserError naming the variable when a cache folder cannot work; before a run loads anything."""
    for label, (variable, folder) in caches().items():
        why = problem(folder)
        if why:
            raise UserError(f"{label} {folder} ({variable}): {why}; point {variable.split(' ')[0]} at a writable folder")
