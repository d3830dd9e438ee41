"""Optional dependencies: which extra installs a module, and a one-line error when it is missing.

`pip install peftbench` is the reader (report, dashboard data, import, export); training and the
optional integrations come with extras. Import an optional module through `require` so a missing one
stops with the `pip install` that fixes it instead of a traceback.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from peftbench.errors import UserError

# Top-level module -> the extra that installs it.
EXTRA_OF = {
    "torch": "train",
    "transformers": "train",
    "peft": "train",
    "accelerate": "train",
    "datasets": "train",
    "safetensors": "train",
    "gguf": "train",
    "psutil": "train",
    "bitsandbytes": "quant",
    "ray": "ray",
    "gradio": "dashboard",
    "diffusers": "image",
    "sklearn": "image",
    "tensorboard": "tensorboard",
    "mlflow": "mlflow",
    "wandb": "wandb",
    "trackio": "trackio",
    "optuna": "tune",
    "if_verifiable": "retention",
    "trl": "rl",
}
# What each extra is for, for the message.
PURPOSE = {
    "train": "training and evaluation (peftbench run, sweep, demo, smoke)",
    "quant": 'quantized base models ("quantization": "4bit"/"8bit", on CUDA)',
    "ray": "the Ray executor (sweep --executor ray)",
    "dashboard": "the dashboard",
    "image": "image tasks (minigen, imagegen)",
    "tensorboard": "--report-to tensorboard",
    "mlflow": "--report-to mlflow",
    "wandb": "--report-to wandb",
    "trackio": "--report-to trackio",
    "tune": "peftbench tune (Optuna searches)",
    "rl": "reinforcement learning (\"trainer\": \"grpo\")",
    "retention": "instruction-following retention (retention.instructions in training_params.json)",
}


class MissingExtra(UserError):
    """An optional dependency is not installed; the message names the pip install to run."""


def install_hint(extra: str) -> str:
    return f"pip install 'peftbench[{extra}]'"


def missing_message(module: str, extra: str | None = None) -> str:
    extra = extra or EXTRA_OF.get(module.split(".")[0], "all")
    purpose = PURPOSE.get(extra, f"the [{extra}] extra")
    return f"{purpose} needs {module.split('.')[0]}, which is not installed: {install_hint(extra)}"


def require(module: str, extra: str | None = None) -> ModuleType:
    """`importlib.import_module(module)`, or MissingExtra naming the extra when the package is absent.

    Only a missing *package* becomes MissingExtra: an ImportError raised inside an installed one (a
    broken build, a missing CUDA library) propagates unchanged, since reinstalling would not help."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        top = module.split(".")[0]
        if exc.name is not None and exc.name.split(".")[0] != top:
            raise
        raise MissingExtra(missing_message(module, extra)) from None


def require_extra(extra: str) -> None:
    """Check every module of `extra` at once (before starting work that needs them all)."""
    for module, owner in EXTRA_OF.items():
        if owner == extra and importlib.util.find_spec(module) is None:
            raise MissingExtra(missing_message(module, extra))
