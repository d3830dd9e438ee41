"""Keep what a run trained: the adapter in PEFT format (for full fine-tuning, the model) beside the
result record, with a model card and a copy of the record, ready for `peftbench push`.

    results/<task>/<stem>.json            the result record
    results/<task>/<stem>.adapter/        adapter_config.json, adapter_model.safetensors (or the model),
                                          README.md (model card), peftbench_result.json

The run pipeline calls `save_adapter` for a successful run with `--save-adapter`, before it writes the
record, so a result that exists has its adapter. Nothing here imports torch at module level: the reader
(which skips `*.adapter/` folders) imports ADAPTER_SUFFIX.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from peftbench.records.record import ResultRecord

ADAPTER_SUFFIX = ".adapter"
RECORD_FILE = "peftbench_result.json"


def adapter_dir(result_json_path: str | os.PathLike) -> Path:
    """`results/<task>/<stem>.json` -> `results/<task>/<stem>.adapter/`."""
    path = Path(result_json_path)
    return path.with_name(path.stem + ADAPTER_SUFFIX)


def save_adapter(model, folder: str | os.PathLike, record: ResultRecord, tokenizer=None) -> Path:
    """Write `model`'s adapter (PEFT's save_pretrained) or, for full fine-tuning, the whole model (plus
    `tokenizer`, so the folder loads on its own), a model card built from `record`, and the record.

    The folder appears complete or not at all: everything is written to a hidden sibling first and
    renamed into place, replacing an earlier save of the same run."""
    from peftbench.adapters.model_card import base_model_id, build_card
    from peftbench.records.results import atomic_write_json

    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.with_name(f".{folder.name}.{secrets.token_hex(4)}.tmp")
    try:
        _save_weights(model, tmp, base_model_id(record.meta_info.model_info or {}))
        if tokenizer is not None and not hasattr(model, "peft_config"):
            tokenizer.save_pretrained(tmp)
        build_card(record).save(tmp / "README.md")  # replaces the stub card peft writes
        atomic_write_json(tmp / RECORD_FILE, record.to_json())
        _replace(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def _save_weights(model, folder: Path, hub_base: str | None) -> None:
    model.save_pretrained(folder)
    config_file = folder / "adapter_config.json"
    if hub_base and hasattr(model, "peft_config") and config_file.is_file():
        # adapter_config.json names the base model that AutoPeftModel loads: a Hub id travels, a local
        # cache path (the embedded model's converted folder) means nothing on another machine. Edited
        # after saving, because peft looks a Hub id up online while it saves.
        config = json.loads(config_file.read_text())
        config["base_model_name_or_path"] = hub_base
        config_file.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def _replace(new: Path, target: Path) -> None:
    """Rename `new` to `target`; an existing `target` is moved aside first and removed after."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.{secrets.token_hex(4)}.old")
        os.replace(target, old)
    os.replace(new, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
