"""The model card (README.md) of a saved adapter: Hub metadata with the run's test results, and a page
saying what was trained, on what, how well, at what cost, and how to load it.

Built from the result record alone (`peftbench.records.record.ResultRecord`), so a card can be (re)written for
any record without the model.
"""

from __future__ import annotations

import math

from peftbench import __version__
from peftbench.metrics import DRIFT, FORGETTING
from peftbench.records.record import ResultRecord

# Embedded models are conversions of a Hub model: the card names the Hub model as the base so the
# Hub links them, and says that the weights were the dequantized GGUF, not the safetensors release.
EMBEDDED_HUB_IDS = {"embedded:SmolLM2-135M-Instruct": "HuggingFaceTB/SmolLM2-135M-Instruct"}


def base_model_id(model_info: dict) -> str | None:
    """The base model's Hub id, or None when it is a local folder (the Hub only accepts ids)."""
    model_id = model_info.get("model_id")
    if model_id in EMBEDDED_HUB_IDS:
        return EMBEDDED_HUB_IDS[model_id]
    if not model_id or model_info.get("local_path") or model_id.startswith("embedded:"):
        return None
    return model_id


def final_metrics(record: ResultRecord) -> dict:
    """The final row of a finished run (test metrics, forgetting, drift), finite numbers only."""
    return {k: v for k, v in record.final_metrics().items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)}


def peft_type(peft: dict | None) -> str:
    """"LORA", or "full fine-tuning"."""
    if peft is None:
        return "full fine-tuning"
    kind = peft.get("peft_type", "")
    return str(getattr(kind, "value", kind))


def _is_image(record: ResultRecord) -> bool:
    return "image" in (record.run_info.train_config or {})


def card_data(record: ResultRecord):
    from huggingface_hub import EvalResult, ModelCardData

    info, meta = record.run_info, record.meta_info
    task, name, peft = info.task, info.experiment_name, info.peft_config
    dataset_id = ((meta.dataset_info or {}).get("source") or {}).get("dataset")
    kind = "text-to-image" if _is_image(record) else "text-generation"
    results = [
        EvalResult(task_type=kind, dataset_type=dataset_id or task, dataset_name=task,
                   metric_type=key.replace(" ", "_"), metric_name=key, metric_value=value)
        for key, value in final_metrics(record).items() if key.startswith("test ") or key in (FORGETTING.key, DRIFT.key)
    ]
    return ModelCardData(
        model_name=f"{task}-{name.replace('/', '-')}",
        base_model=base_model_id(meta.model_info or {}),
        library_name=("diffusers" if _is_image(record) else "transformers") if peft is None else "peft",
        pipeline_tag=kind,
        tags=["peftbench", "full-finetuning" if peft is None else peft_type(peft).lower()],
        datasets=[dataset_id] if dataset_id else None,
        eval_results=results or None,
    )


def _table(rows: list[tuple[str, object]], header: str = "| | |") -> str:
    lines = [header, "|---|---|"] + [f"| {key} | {_fmt(value)} |" for key, value in rows if value is not None]
    return "\n".join(lines)


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return str(value)


def card_text(record: ResultRecord) -> str:
    info, train = record.run_info, record.train_info
    model_info, cfg, peft = record.meta_info.model_info or {}, info.train_config or {}, info.peft_config
    base = base_model_id(model_info) or model_info.get("model_id")
    lines = [f"# {info.experiment_name} on {info.task}", "",
             f"{peft_type(peft)} of `{base}`, trained and evaluated by peftbench "
             f"{info.peftbench_version or __version__} (task `{info.task}`, seed {info.seed}).", ""]
    if model_info.get("model_id") in EMBEDDED_HUB_IDS:
        lines += [f"The base weights were the `{model_info.get('source')}` GGUF file (sha256 `{model_info.get('sha256')}`) "
                  "dequantized to float32, which differ slightly from the safetensors release named above.", ""]
    lines += ["## Results", "", _table(list(final_metrics(record).items()), "| metric (final) | value |"), "",
              "## Cost", "", _table([
                  ("train time (s)", train.train_time), ("total time (s)", train.total_time),
                  (f"train memory peak ({train.memory_kind}, bytes)", train.accelerator_memory_max),
                  ("train memory peak (accounted, bytes)", train.accounted_memory_max),
                  ("trainable parameters", train.num_trainable_params),
                  ("total parameters", train.num_total_params), ("saved size (bytes)", train.file_size)]), "",
              "## Training", "", _table([(key, cfg.get(key)) for key in (
                  "max_steps", "batch_size", "optimizer_type", "optimizer_kwargs", "lr_scheduler", "warmup_ratio",
                  "max_seq_length", "dtype")] + ([("target_modules", peft.get("target_modules"))] if peft else [])), "",
              "## Use", "", _usage(base, peft, _is_image(record)), "",
              "## Provenance", "", _table([("config hash", info.config_hash), ("created", info.created_at),
                                           ("git commit", info.git.commit if info.git else None)]), "",
              "`peftbench_result.json` in this folder is the full result record."]
    return "\n".join(lines) + "\n"


def _usage(base: str | None, peft: dict | None, image: bool) -> str:
    if image:
        return ("The folder holds the denoiser's " + ("weights" if peft is None else "adapter") + f" for `{base}`: "
                "load the pipeline with diffusers" + ("" if peft is None else " and wrap its denoiser with "
                "`peft.PeftModel.from_pretrained(pipe.transformer or pipe.unet, \"<this repo or folder>\")`") + ".")
    if peft is None:
        return "```python\nfrom transformers import AutoModelForCausalLM\n\nmodel = AutoModelForCausalLM.from_pretrained(\"<this repo or folder>\")\n```"
    return ("```python\nfrom peft import PeftModel\nfrom transformers import AutoModelForCausalLM\n\n"
            f"base = AutoModelForCausalLM.from_pretrained(\"{base}\")\n"
            "model = PeftModel.from_pretrained(base, \"<this repo or folder>\")\n```")


def build_card(record: ResultRecord):
    """A huggingface_hub.ModelCard for a successful run's record."""
    from huggingface_hub import ModelCard

    return ModelCard(f"---\n{card_data(record).to_yaml()}\n---\n\n{card_text(record)}")
