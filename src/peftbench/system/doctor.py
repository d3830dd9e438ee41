"""`peftbench doctor`: is this machine ready to benchmark? Each check says what it found and, when it
fails, the fix.

Checks: peftbench and Python, the lock the packages came from, the torch build, accelerators, bitsandbytes, disk space and cache
folders, Hub reachability, the login token, and access to the gated reference models. Hub checks use
the standard library with short timeouts, so an offline machine gets its answer in seconds. Nothing
here needs torch to be importable: a missing training stack is itself a finding.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from peftbench import __version__
from peftbench.system import folders
from peftbench.system.extras import install_hint

OK, WARN, FAIL = "ok", "warn", "FAIL"
# The reference suite's models: text (MetaMathQA) and image (DreamBooth), both gated on the Hub.
REFERENCE_MODELS = ("meta-llama/Llama-3.2-3B", "black-forest-labs/FLUX.2-klein-base-4B")
HUB_TIMEOUT_S = 3.0
# Enough for the reference text model (~6.5 GB) with its converted copies and results.
MIN_FREE_GB = 20


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # OK, WARN or FAIL
    detail: str
    fix: str = ""


def _version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def check_python() -> Check:
    return Check("peftbench", OK, f"peftbench {__version__}, Python {platform.python_version()} ({sys.executable})")


def _torch_probe() -> dict | None:
    # In a child process: importing torch takes seconds and must not happen in a reader-only install's
    # process, and a broken CUDA install can crash the importer.
    code = ("import json, torch; c = torch.cuda.is_available(); "
            "print(json.dumps({'version': torch.__version__, 'cuda': torch.version.cuda, 'hip': torch.version.hip, "
            "'cuda_ok': c, 'devices': [(torch.cuda.get_device_name(i), torch.cuda.get_device_properties(i).total_memory) "
            "for i in range(torch.cuda.device_count())] if c else [], "
            "'mps': bool(getattr(torch.backends, 'mps', None) and torch.backends.mps.is_available()), "
            "'threads': torch.get_num_threads()}))")
    try:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        return {"error": "importing torch took over 120 s"}
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["import failed"])[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def check_torch(probe: dict | None) -> Check:
    if probe is None:
        return Check("torch", FAIL, "not installed (training needs it; reports do not)", install_hint("train"))
    if "error" in probe:
        return Check("torch", FAIL, f"installed but cannot be imported: {probe['error']}",
                     "reinstall torch for this machine: https://pytorch.org/get-started/locally/")
    build = f"CUDA {probe['cuda']}" if probe["cuda"] else f"ROCm {probe['hip']}" if probe["hip"] else "CPU-only"
    has_gpu = shutil.which("nvidia-smi") is not None
    if build == "CPU-only" and has_gpu:
        return Check("torch", WARN, f"torch {probe['version']}, {build} build, but this machine has an NVIDIA GPU",
                     "install a CUDA build of torch (https://pytorch.org/get-started/locally/) before peftbench[train]")
    return Check("torch", OK, f"torch {probe['version']}, {build} build, {probe['threads']} CPU threads")


def check_accelerators(probe: dict | None) -> Check:
    if not probe or "error" in probe:
        return Check("accelerators", WARN, "unknown (torch not usable)", "see the torch check above")
    if probe["devices"]:
        gpus = ", ".join(f"{name} ({mem / 2**30:.0f} GiB)" for name, mem in probe["devices"])
        return Check("accelerators", OK, f"{len(probe['devices'])} GPU(s): {gpus}")
    if probe["mps"]:
        return Check("accelerators", OK, "Apple MPS")
    fix = ("the NVIDIA driver does not work with this torch build: check `nvidia-smi` and the CUDA version torch "
           "was built for" if shutil.which("nvidia-smi") else "")
    return Check("accelerators", WARN, "none: runs use the CPU (the offline tasks are sized for that; metamathqa "
                 "and imagegen need a GPU)", fix)


def check_bitsandbytes(probe: dict | None) -> Check:
    version = _version("bitsandbytes")
    gpu = bool(probe and probe.get("devices"))
    if version is None:
        status = WARN if gpu else OK
        return Check("bitsandbytes", status, "not installed: only needed for \"quantization\": \"4bit\"/\"8bit\"",
                     "pip install 'peftbench[quant]' (needs a CUDA GPU)" if gpu else "")
    if not gpu:
        return Check("bitsandbytes", WARN, f"{version} installed, but 4/8-bit training needs a CUDA GPU", "")
    return Check("bitsandbytes", OK, f"{version}")


def check_lock() -> Check:
    """Whether the installed packages are those of the lock setup.sh installed (docs/install.md)."""
    from peftbench.system.environment import UNLOCKED, lock_info

    info = lock_info()
    if info == UNLOCKED:
        return Check("lock", OK, "unlocked: installed without a lock (pip install, or make test-latest)")
    if info.startswith(UNLOCKED):
        return Check("lock", WARN, info, "bash scripts/setup.sh reinstalls the locked versions")
    return Check("lock", OK, f"{info}: every locked package at its locked version")


def _cache_folders() -> dict[str, Path]:
    # The same folders a run uses (folders.py): the doctor cannot report one and a run use another.
    found = {f"{label} ({variable})": folder for label, (variable, folder) in folders.caches().items()}
    return {**found, "results (./results)": Path("results")}


def _existing_parent(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_folder(label: str, folder: Path, min_free_gb: float = MIN_FREE_GB) -> Check:
    fix = f"point it at a writable folder ({label.split('(')[-1].rstrip(')')})"
    why = folders.problem(folder)
    if why:
        return Check(label, FAIL, f"{folder}: {why}", fix)
    base = _existing_parent(folder)
    free = shutil.disk_usage(base).free / 2**30
    where = f"{folder} ({'exists' if folder.exists() else 'created on first use'}), {free:.0f} GiB free"
    if free < min_free_gb:
        return Check(label, WARN, f"{where}: the reference models need about {min_free_gb} GiB",
                     f"free space, or move it to a larger disk ({label.split('(')[-1].rstrip(')')})")
    return Check(label, OK, where)


def hub_endpoint() -> str:
    return (os.environ.get("HF_ENDPOINT") or "https://huggingface.co").rstrip("/")


def hub_token() -> str | None:
    """The token huggingface_hub would send: $HF_TOKEN, else the saved login (`hf auth login`)."""
    if os.environ.get("HF_TOKEN"):
        return os.environ["HF_TOKEN"].strip()
    token_file = folders.env_path("HF_TOKEN_PATH") or folders.hub_home() / "token"
    try:
        return token_file.read_text().strip() or None
    except OSError:
        return None


def _get(url: str, token: str | None, timeout: float) -> tuple[int, dict]:
    """(HTTP status, headers) of a GET; status 0 with {"error": why} when there is no answer."""
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers)
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers or {})
    except (urllib.error.URLError, OSError) as err:  # refused, DNS, TLS, timeout
        reason = getattr(err, "reason", err)
        return 0, {"error": f"{type(reason).__name__}: {reason}" if not isinstance(reason, str) else reason}


NO_HUB_FIX = ("check the network or proxy (HTTPS_PROXY), or set HF_ENDPOINT to a mirror; without network, "
              "download the models elsewhere into $HF_HOME and set HF_HUB_OFFLINE=1")


def check_hub(timeout: float = HUB_TIMEOUT_S) -> Check:
    endpoint = hub_endpoint()
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return Check("Hub", WARN, f"HF_HUB_OFFLINE is set: models must already be in {_cache_folders()['Hub cache ($HF_HUB_CACHE / $HF_HOME)']}",
                     "unset HF_HUB_OFFLINE to download")
    status, headers = _get(f"{endpoint}/api/models/{REFERENCE_MODELS[0]}", None, timeout)
    if status == 0:
        return Check("Hub", FAIL, f"{endpoint} not reachable within {timeout:.0f} s ({headers['error']})", NO_HUB_FIX)
    return Check("Hub", OK, f"{endpoint} answers (HTTP {status})")


def check_token() -> Check:
    if hub_token():
        return Check("Hub login", OK, "a token is set ($HF_TOKEN or the saved login)")
    return Check("Hub login", FAIL, "no token: gated models (the reference models) cannot be downloaded",
                 "hf auth login (or set HF_TOKEN) with a read token from https://huggingface.co/settings/tokens")


def check_gated(repo_id: str, reachable: bool, timeout: float = HUB_TIMEOUT_S) -> Check:
    name = f"access {repo_id}"
    if not reachable:
        return Check(name, FAIL, "not checked (see the Hub check above)", "see the Hub check above")
    token = hub_token()
    status, headers = _get(f"{hub_endpoint()}/api/models/{repo_id}/auth-check", token, timeout)
    page = f"{hub_endpoint()}/{repo_id}"
    code = headers.get("X-Error-Code", "")
    if status == 200:
        return Check(name, OK, "granted")
    if status == 0:
        return Check(name, FAIL, f"no answer within {timeout:.0f} s ({headers['error']})", NO_HUB_FIX)
    if status in (401, 403) and not token:
        return Check(name, FAIL, "gated: needs a logged-in account with access",
                     "hf auth login (or set HF_TOKEN), after requesting access at " + page)
    if code == "GatedRepo" or status == 403:
        return Check(name, FAIL, "gated, and this account has not been granted access",
                     f"accept the license and request access at {page}, then wait for approval")
    if status == 401:
        return Check(name, FAIL, "the token was rejected (expired or revoked?)",
                     "create a new read token at https://huggingface.co/settings/tokens and hf auth login")
    return Check(name, FAIL, f"HTTP {status} {code}".strip(), f"check the model id and your access at {page}")


def run_checks(timeout: float = HUB_TIMEOUT_S) -> list[Check]:
    probe = _torch_probe() if importlib.util.find_spec("torch") else None
    checks = [check_python(), check_lock(), check_torch(probe), check_accelerators(probe), check_bitsandbytes(probe)]
    checks += [check_folder(label, folder) for label, folder in _cache_folders().items()]
    hub = check_hub(timeout)
    checks += [hub, check_token()]
    checks += [check_gated(repo, hub.status == OK, timeout) for repo in REFERENCE_MODELS]
    return checks
