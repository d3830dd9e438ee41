import subprocess

import torch

from peftbench import __version__, environment
from peftbench.environment import git_info, package_info, pytorch_info, system_info


def test_package_info_versions():
    info = package_info()
    names = ("peftbench", "torch", "transformers", "peft", "datasets", "accelerate", "bitsandbytes", "gguf",
             "diffusers")
    assert {f"{name}-version" for name in names} <= info.keys()
    assert info["torch-version"] == torch.__version__
    assert info["peftbench-version"] == __version__
    assert all(value is None or isinstance(value, str) for value in info.values())


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
