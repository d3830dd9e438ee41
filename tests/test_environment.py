import subprocess
import sys
from pathlib import Path

import torch

from peftbench import __version__
from peftbench.system import environment
from peftbench.system.environment import git_info, package_info, pytorch_info, system_info


def test_package_info_versions():
    info = package_info()
    names = ("peftbench", "torch", "transformers", "peft", "datasets", "accelerate", "bitsandbytes", "gguf",
             "diffusers")
    assert {f"{name}-version" for name in names} <= info.keys()
    assert info["torch-version"] == torch.__version__
    assert info["peftbench-version"] == __version__
    assert all(value is None or isinstance(value, str) for value in info.values())
    assert info["peftbench-lock"] == environment.lock_info()


LOCK = """# peftbench[train], locked by scripts/lock.sh
numpy==2.4.6 ; python_full_version < '3.12'  # via pandas
numpy==2.5.5 ; python_full_version >= '3.12'  # via pandas
Pillow==12.0.0            # via matplotlib
winonly==1.0 ; sys_platform == 'never'  # via nothing here
"""
NUMPY = "2.4.6" if sys.version_info < (3, 12) else "2.5.5"


def test_lock_differences_apply_markers_and_normalise_names():
    assert environment.lock_differences(LOCK, {"numpy": NUMPY, "pillow": "12.0.0"}) == []
    assert environment.lock_differences(LOCK, {"numpy": "9.9", "pillow": "12.0"}) == [
        f"numpy 9.9 (locked {NUMPY})"]  # 12.0 is 12.0.0
    assert environment.lock_differences(LOCK, {"numpy": NUMPY}) == ["Pillow missing (locked 12.0.0)"]


def test_lock_info_names_the_lock_or_says_unlocked(tmp_path, monkeypatch):
    assert environment.lock_info(str(tmp_path)) == "unlocked"
    (tmp_path / environment.LOCK_COPY).mkdir()
    (tmp_path / environment.LOCK_COPY / "train.txt").write_text(LOCK)
    monkeypatch.setattr(environment, "installed_versions", lambda: {"numpy": NUMPY, "pillow": "12.0.0"})
    environment.lock_info.cache_clear()
    locked = environment.lock_info(str(tmp_path))
    assert locked.startswith("locks/train.txt sha256:") and len(locked.split(":")[1]) == 16
    monkeypatch.setattr(environment, "installed_versions", lambda: {"numpy": "1.0", "pillow": "1.0"})
    environment.lock_info.cache_clear()
    changed = environment.lock_info(str(tmp_path))
    assert changed.startswith(f"unlocked: {locked} changed since: numpy 1.0 (locked {NUMPY}), Pillow 1.0")
    environment.lock_info.cache_clear()


def test_this_environment_is_what_its_lock_says():
    """`make test` installs from locks/all.txt: every locked package at its locked version, so a result
    made here can be tied to the lock. An environment setup.sh did not lock (`make test-latest`, a plain
    pip install) says so."""
    environment.lock_info.cache_clear()
    copies = list((Path(sys.prefix) / environment.LOCK_COPY).glob("*.txt"))
    if copies:
        assert environment.lock_info().startswith(f"locks/{copies[0].name} sha256:"), environment.lock_info()
    else:
        assert environment.lock_info() == "unlocked"


def test_system_info_keys():
    info = system_info()
    expected = {"system", "release", "version", "machine", "processor", "python_version", "cpu_count",
                "torch_num_threads", "accelerator"}
    assert expected <= info.keys()
    assert info["torch_num_threads"] == torch.get_num_threads()
    if not torch.cuda.is_available():
        assert info["accelerator"].startswith("cpu: ")


def test_pytorch_info_is_the_build_description():
    assert "PyTorch built with" in pytorch_info()


def test_git_info_shape():
    info = git_info()
    assert set(info) == {"commit", "dirty"}
    assert info["commit"] is None or (len(info["commit"]) == 40 and int(info["commit"], 16) >= 0)
    assert info["dirty"] is None or isinstance(info["dirty"], bool)


def test_git_info_never_raises_without_git(monkeypatch):
    def no_git(*args, **kwargs):
        raise FileNotFoundError("git")

    monkeypatch.setattr(environment.subprocess, "run", no_git)
    assert git_info() == {"commit": None, "dirty": None}


def test_git_info_survives_a_hanging_git(monkeypatch):
    def hang(*args, **kwargs):
        raise subprocess.TimeoutExpired(cmd="git", timeout=kwargs.get("timeout"))

    monkeypatch.setattr(environment.subprocess, "run", hang)
    assert git_info() == {"commit": None, "dirty": None}
