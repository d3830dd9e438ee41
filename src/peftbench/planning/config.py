"""The validated training parameters of one run: TrainConfig (text tasks), ImageTrainConfig (image tasks).

A task's defaults are deep-merged with an experiment's `training_params.json` (a nested
`optimizer_kwargs: {"lr": ...}` keeps the default weight decay, unlike the reference suite's shallow
merge), then with command-line overrides, as plain dicts, and validated once (`validate_config`).
Unknown keys, wrong types and impossible values raise a UserError naming the file (or the command
line) and the key.
"""

from __future__ import annotations

import copy
import json
import math
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeGuard, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from peftbench.errors import UserError


class Strict(BaseModel):
    # strict: JSON's types as they are, so `true` or `8.0` or `"8"` for an integer is an error rather
    # than a silent 1 or 8 (an integer is still a number). allow_inf_nan=False: NaN passes every
    # `gt`/`lt` bound by comparing false, so it must be refused by name.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)


def _non_finite(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, (list, tuple)):
        return any(_non_finite(item) for item in value)
    if isinstance(value, dict):
        return any(_non_finite(item) for item in value.values())
    return False


class GenerationConfig(Strict):
    """Greedy decoding limits for evaluation."""

    max_new_tokens: int = Field(gt=0, description="new tokens generated per answer")
    max_length: int = Field(gt=0, description="cap on prompt + answer tokens")


class DataConfig(Strict):
    """How much of each split a text task uses; `null` means all of it (where the split is finite).
    Tasks extend this section with their own keys (minimath: `gsm8k_test_size`; metamathqa: `sources`)."""

    train_size: int | None = Field(default=None, gt=0, description="training examples; null = all")
    valid_size: int = Field(default=50, gt=0, description="validation problems, scored at every eval_steps")
    test_size: int | None = Field(default=None, gt=0, description="test problems; null = all")
    forgetting_size: int = Field(default=100, gt=0, description="texts in the forgetting sample")
    forgetting_max_tokens: int = Field(default=256, gt=0, description="tokens kept per forgetting text")


class InstructionsConfig(Strict):
    """Instruction following on prompts with one verifiable instruction each (afterwards/instructions.py),
    answered by the tuned and the base model."""

    size: int = Field(default=0, ge=0, description="prompts; 0 = not measured. 350 gives the base model's pass rate "
                      "(about 34% for SmolLM2-135M-Instruct) a 95% interval of about ±5 points")
    max_new_tokens: int = Field(default=160, gt=0, description="new tokens per response")


class RetentionConfig(Strict):
    """What else the model can still do after fine-tuning, measured on the base and the tuned model
    (text tasks). Not part of the config hash: it changes no training and no test result."""

    instructions: InstructionsConfig = Field(default_factory=InstructionsConfig,
                                             description="offline instruction following (the [retention] extra)")
    lm_eval_tasks: list[str] = Field(default_factory=list, description="lm-evaluation-harness tasks run through its "
                                     "own API: task names (usually from the Hub, e.g. ifeval, bbh) or paths of "
                                     "local task YAML files")
    lm_eval_limit: int | None = Field(default=None, gt=0, description="items per lm-eval task; null = all")


class OverheadConfig(Strict):
    """Generation speed of the base model, the adapter unmerged and merged (afterwards/overhead.py):
    interleaved and repeated in one process. Not part of the config hash."""

    repeats: int = Field(default=5, ge=0, description="rounds over every prompt length and model; 0 = not measured")
    prompt_tokens: list[int] = Field(default_factory=lambda: [16, 128, 512], description="prompt lengths (short, "
                                     "medium, long) in tokens")
    new_tokens: int = Field(default=16, gt=1, description="tokens generated per measurement")


class SampledConfig(Strict):
    """Sampled pass@k on the test split (text/sampled.py), besides greedy pass@1 (`test accuracy`): `samples`
    answers per problem at `temperature`, seeded by the run's seed, scored by the task's scorer; pass@k by
    the unbiased estimator over them, for each k."""

    samples: int = Field(gt=0, description="answers sampled per test problem (n)")
    k: list[int] = Field(min_length=1, description="the k of each pass@k reported, each at most `samples`")
    temperature: float = Field(default=1.0, gt=0, description="sampling temperature (no top-k or top-p cut)")

    @model_validator(mode="after")
    def _k_within_samples(self):
        bad = [k for k in self.k if not 0 < k <= self.samples]
        if bad:
            raise ValueError(f"k {bad[0]} must be between 1 and samples ({self.samples})")
        return self


class GrpoConfig(Strict):
    """GRPO (training/grpo.py, TRL's trainer): each step samples `num_generations` answers to each of `batch_size`
    training prompts, rewards them with the task's scorer, and moves the policy towards the better ones."""

    num_generations: int = Field(default=4, gt=1, description="answers sampled per prompt (the group)")
    max_new_tokens: int = Field(default=64, gt=0, description="new tokens per sampled answer")
    temperature: float = Field(default=1.0, gt=0, description="sampling temperature")
    beta: float = Field(default=0.04, ge=0, description="KL penalty towards the starting model (0 = none)")
    loss_type: Literal["grpo", "dr_grpo", "dapo", "bnpo"] = Field(default="grpo", description="TRL's loss variant")
    format_reward: float = Field(default=0.0, ge=0, description="reward added for an answer containing "
                                 "answer_phrase (0 = the task's scorer alone)")
    answer_phrase: str = Field(default="The answer is", description="what the format reward looks for")
    init_adapter: str | None = Field(default=None, description="start from an earlier run's saved adapter "
                                     "(a <stem>.adapter/ folder --save-adapter kept), e.g. a supervised run's")


class EarlyStop(Strict):
    """One look at the run part-way: validate at `step` (on the first `items` validation problems, or all)
    and stop training there if the score is below `below` (without one, the look is only recorded). `peftbench tune --prune` gives each trial the
    bar Optuna's pruner sets from the trials before it; the stopped run's record says where and why
    (`train_info.early_stop`)."""

    step: int = Field(gt=0, description="the step to look at (before max_steps)")
    below: float | None = Field(default=None, description="stop if the validation score at `step` is below this "
                                "(null: look and record the score, never stop)")
    items: int | None = Field(default=None, gt=0, description="validation problems scored at `step` (the first "
                              "this many; null = all): a cheap look that still tells a diverged run apart")


class RunConfig(Strict):
    """Fields every task shares: model, precision, batch sizes, steps, optimizer (part of the config hash).

    A task validates its parameters with its own subclass (`TaskSpec.config_model`): text tasks
    subclass TrainConfig, image tasks ImageTrainConfig, so `extra="forbid"` still rejects a key that
    means nothing to *this* task."""

    model_id: str = Field(description="base model: Hub id, local folder, or an embedded model (embedded:<name>)")
    dtype: Literal["float32", "bfloat16", "float16"] = Field(default="float32", description="weights' dtype")
    compile: bool = Field(default=False, description="torch.compile the wrapped model")
    use_gc: bool = Field(default=False, description="gradient checkpointing")
    use_amp: bool = Field(default=False, description="bf16 autocast on CUDA")
    autocast_adapter_dtype: bool = Field(default=True, description="peft: keep adapter weights in float32")

    batch_size: int = Field(gt=0, description="training examples per step")
    batch_size_eval: int = Field(gt=0, description="examples per batch when evaluating")
    max_steps: int = Field(gt=0, description="training steps")
    eval_steps: int = Field(gt=0, description="validate every this many steps (and after the last)")
    seed: int = Field(default=0, ge=0, description="seed of data order, initialisation and sampling")

    optimizer_type: str = Field(default="AdamW", description="a torch.optim class, or lora+ / lora-fa")
    optimizer_kwargs: dict[str, Any] = Field(default_factory=lambda: {"lr": 1e-4}, description="its arguments (lr, ...)")
    lr_scheduler: Literal["cosine", "constant"] = Field(default="cosine", description="learning-rate schedule")
    warmup_ratio: float = Field(default=0.0, ge=0.0, lt=1.0, description="share of steps warming up linearly")
    grad_norm_clip: float | None = Field(default=1.0, gt=0, description="gradient norm clipping; null = off")
    skip_training: bool = Field(default=False, description="evaluate the base model as it is, no adapter and no "
                                "training steps (the baseline rows, experiments/<task>/base/)")
    evaluate_test: bool = Field(default=True, description="false: stop after the last validation without reading "
                                "the test set or measuring forgetting (tuning trials)")
    early_stop: EarlyStop | None = Field(default=None, description="stop training part-way when a look at "
                                         "the validation score finds it below a bar (tuning trials: --prune)")

    @field_validator("optimizer_kwargs")
    @classmethod
    def _lr_positive(cls, kwargs: dict[str, Any]) -> dict[str, Any]:
        lr = kwargs.get("lr")
        if lr is not None and (not isinstance(lr, (int, float)) or isinstance(lr, bool) or not 0 < lr < math.inf):
            raise ValueError(f"lr must be a positive number, got {lr!r}")  # `not 0 < lr`: NaN too
        for key, value in kwargs.items():  # weight_decay, betas, eps: torch takes NaN without a word
            if _non_finite(value):
                raise ValueError(f"{key} must be finite, got {value!r}")
        return kwargs

    @model_validator(mode="after")
    def _validates_once(self):
        """A run shorter than `eval_steps` still validates once, after its last step: eval_steps is clamped
        to max_steps (the value the config hash and the record carry)."""
        if self.max_steps < self.eval_steps:
            self.__dict__["eval_steps"] = self.max_steps  # frozen model: set during its own validation
        return self

    @model_validator(mode="after")
    def _looks_before_the_end(self):
        if self.early_stop is not None and self.early_stop.step >= self.max_steps:
            raise ValueError(f"early_stop.step ({self.early_stop.step}) must come before max_steps ({self.max_steps})")
        return self


class TrainConfig(RunConfig):
    """A text task's parameters: the shared fields plus tokenisation, prompt, decoding and data sizes."""

    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        default="float32", description="weights' dtype; auto: the one the model's config declares (float32 if none)")
    attn_implementation: str | None = Field(default=None, description="transformers attention backend; null = its default")
    quantization: Literal["4bit", "8bit"] | None = Field(default=None, description="bitsandbytes base-model quantization (CUDA)")
    max_seq_length: int = Field(gt=0, description="training sequences are cut to this many tokens")
    loss_on: Literal["answer", "all"] = Field(
        default="answer", description="answer: prompt tokens masked from the loss; all: whole sequence"
    )

    query_template: str = Field(default="Question: {query} Think step by step.\nAnswer:",
                                description="prompt; {query} is replaced by the question")
    generation_kwargs: GenerationConfig = Field(description="greedy decoding limits for evaluation")
    few_shot: int = Field(default=0, ge=0, description="solved training examples (drawn with the seed) put before "
                          "every evaluation prompt: k-shot prompting")
    data: DataConfig = Field(default_factory=DataConfig, description="data sizes")
    trainer: Literal["sft", "grpo"] = Field(default="sft", description="sft: supervised fine-tuning on the targets; "
                                            "grpo: reinforcement learning rewarded by the task's scorer")
    grpo: GrpoConfig = Field(default_factory=GrpoConfig, description="GRPO settings (trainer grpo)")
    retention: RetentionConfig = Field(default_factory=RetentionConfig, description="capabilities after fine-tuning")
    overhead: OverheadConfig = Field(default_factory=OverheadConfig, description="inference overhead")
    sampled: SampledConfig | None = Field(default=None, description="sampled pass@k on the test split besides "
                                          "greedy pass@1; null = greedy only")

    @field_validator("query_template")
    @classmethod
    def _has_query(cls, template: str) -> str:
        if "{query}" not in template:
            raise ValueError("must contain the placeholder {query}")
        return template


def trains_with_grpo(cfg: RunConfig) -> TypeGuard[TrainConfig]:
    """Whether the run trains with GRPO (`trainer: grpo`), a setting only text configs have; where it
    does, the config is a `TrainConfig` (its `grpo` section), which this tells the type checker."""
    return getattr(cfg, "trainer", "sft") == "grpo"


class ImageConfig(Strict):
    """DreamBooth-style concept learning and sampling, shared by every image task."""

    resolution: int = Field(gt=0, description="side of the square training and sample images, in pixels")
    identifier: str = Field(min_length=1, description="the rare token that names the new concept, e.g. sks")
    class_word: str = Field(min_length=1, description="the concept's class noun, e.g. 'digit', 'plushy'")
    instance_prompt: str = Field(description="training prompt; {identifier} and {class_word} are filled in")
    num_instance_images: int = Field(gt=0, description="instance images the concept is taught from")
    prior_loss_weight: float = Field(default=0.0, ge=0.0, description="DreamBooth prior preservation; 0 disables")
    num_inference_steps: int = Field(gt=0, description="sampler steps when generating")
    guidance_scale: float = Field(default=1.0, ge=1.0, description="classifier-free guidance; 1 disables")
    test_seeds: int = Field(gt=0, description="images generated per test prompt (seeds 0..n-1)")
    valid_seeds: int = Field(gt=0, description="images generated per validation prompt")
    drift_seeds: int = Field(gt=0, description="images per unrelated prompt for drift (adapter on vs off)")
    grid_seeds: int = Field(default=4, gt=0, description="images per row of the sample grid")

    @field_validator("instance_prompt")
    @classmethod
    def _has_identifier(cls, template: str) -> str:
        if "{identifier}" not in template:
            raise ValueError("must contain the placeholder {identifier}")
        return template

    def prompt(self, template: str) -> str:
        return template.format(identifier=self.identifier, class_word=self.class_word)


class ImageTrainConfig(RunConfig):
    """An image task's parameters: the shared fields plus `image`; tasks subclass it for their own."""

    image: ImageConfig = Field(description="concept learning and sampling")


def deep_merge(base: dict, override: dict) -> dict:
    """Recursively merge `override` into a copy of `base`; dicts merge, everything else replaces."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def read_json(path: Path) -> dict:
    """Read a JSON object strictly (safe_json: symlinks, regular files, UTF-8, size, depth, duplicate
    keys), turning every failure into a UserError that names the file."""
    from peftbench.safe_json import read_json_object

    return read_json_object(path)


def build_config(
    defaults: dict, overrides: dict, source: Path | str, schema: type[RunConfig] = TrainConfig
) -> RunConfig:
    """Validate defaults deep-merged with overrides against `schema` (the task's config model);
    errors name `source` and the offending key."""
    return validate_config(defaults, [(source, overrides)], schema)


Layer = tuple[Path | str, dict]  # (where the values come from, for errors; the values)


def validate_config(defaults: dict, layers: list[Layer], schema: type[RunConfig] = TrainConfig) -> RunConfig:
    """Deep-merge `layers` over `defaults` in order (e.g. training_params.json, then the command line) as
    plain dicts and validate the result once against `schema` (the task's config model).

    An error names the first layer that is invalid by itself: the values up to that layer fail to
    validate (a defaults' mistake is named by the first layer), as a mistake in a file is that file's,
    whatever comes after it. Only a failure validates the shorter merges again, to find that layer."""
    merged = defaults
    for _, values in layers:
        merged = deep_merge(merged, values)
    try:
        return schema.model_validate(merged)
    except ValidationError as err:
        source, failed, data = layers[-1][0], err, merged
    partial = defaults
    for where, values in layers[:-1]:
        partial = deep_merge(partial, values)
        try:
            schema.model_validate(partial)
        except ValidationError as err:
            source, failed, data = where, err, partial
            break
    first = failed.errors()[0]
    key = ".".join(str(part) for part in first["loc"]) or "(top level)"
    value = _lookup(data, first["loc"])
    if first["type"] == "extra_forbidden":
        raise UserError(f"{source}: unknown training parameter '{key}'") from None
    raise UserError(f"{source}: invalid value {value!r} for '{key}': {first['msg']}") from None


def _lookup(data: Any, loc: tuple) -> Any:
    for part in loc:
        if isinstance(data, dict) and part in data:
            data = data[part]
        else:
            return None
    return data


def parse_overrides(items: list[str]) -> dict:
    """`["a.b=1", "c=\"x\""]` -> `{"a": {"b": 1}, "c": "x"}`; a value that is not JSON stays a string."""
    result: dict = {}
    for item in items:
        key, sep, raw = item.partition("=")
        parts = key.split(".")
        if not sep or not all(parts):
            raise UserError(f"--set '{item}': expected KEY=VALUE (dotted KEY for nested keys, e.g. data.test_size=50)")
        try:
            value = json.loads(raw)
        except (json.JSONDecodeError, RecursionError):
            value = raw
        node = result
        *parents, leaf = parts
        for depth, part in enumerate(parents):
            node = node.setdefault(part, {})
            if not isinstance(node, dict):  # `--set data=1 --set data.test_size=2`
                raise UserError(f"--set '{item}': '{'.'.join(parts[:depth + 1])}' was set to a value by an earlier --set, "
                                "so it has no keys to set")
        if isinstance(node.get(leaf), dict) and not isinstance(value, dict):  # the other order
            raise UserError(f"--set '{item}': conflicts with an earlier --set of a key inside '{key}'")
        node[leaf] = value
    return result


@dataclass(frozen=True)
class FieldHelp:
    """One parameter as `peftbench params` shows it."""

    key: str  # dotted: data.test_size
    type: str
    default: str  # JSON, as it would be written in training_params.json
    description: str


def describe_fields(model: type[BaseModel], defaults: dict) -> list[FieldHelp]:
    """Every leaf field of a task's config model, nested sections flattened to dotted keys, with its
    value under the task's `defaults` (as JSON) and its description."""
    values = model.model_validate(defaults).model_dump(mode="json")
    return list(_walk(model, values, ""))


def _walk(model: type[BaseModel], values: dict, prefix: str):
    for name, field in model.model_fields.items():
        section = _section(field.annotation)
        if section is not None:
            yield from _walk(section, values.get(name) or {}, f"{prefix}{name}.")
        else:
            yield FieldHelp(f"{prefix}{name}", _type_name(field.annotation), json.dumps(values.get(name)),
                            field.description or "")


def _section(annotation) -> type[BaseModel] | None:
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def _type_name(annotation) -> str:
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Literal:
        return " | ".join(json.dumps(a) for a in args)
    if origin in (Union, types.UnionType):
        return " | ".join("null" if a is type(None) else _type_name(a) for a in args)
    if origin is not None:
        return f"{getattr(origin, '__name__', str(origin))}[{', '.join(_type_name(a) for a in args)}]"
    return getattr(annotation, "__name__", str(annotation))
