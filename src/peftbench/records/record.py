"""The result record: one JSON file per run (docs/design.md, "Result record"), typed, and the one place
that reads a record file: strictly (`read_record`) or tolerantly (`read_record_or_none`).

Every writer builds a `ResultRecord` (the run pipeline, the sweep driver's record for a run that died,
`import`) and every reader parses one, so the fields below are the single definition of the format.
It is a superset of the reference suite's schema: extra keys are kept (`extra="allow"`), fields the
reference lacks are optional, and the reference's own files parse. `docs/result-record.schema.json`
is generated from these models (`python scripts/record_schema.py`); a test keeps it current.
No torch here: the reader side imports it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from peftbench.errors import UserError
from peftbench.records.names import NAME_RULE, is_experiment_name, is_name
from peftbench.records.status import Status
from peftbench.safe_json import RECORD_MAX_BYTES, BadFile, read_json

Number = int | float


class _Open(BaseModel):
    """Unknown keys are kept as they are: newer writers and the reference suite add their own."""

    model_config = ConfigDict(extra="allow")


class GitInfo(_Open):
    commit: str | None = Field(default=None, description="commit of the peftbench checkout that ran")
    dirty: bool | None = Field(default=None, description="uncommitted changes in that checkout")


class TrialInfo(_Open):
    """Set on the records of tuning trials (`peftbench tune`): such a run chose a configuration on the
    validation split and never read the test set, so leaderboards leave it out."""

    study: str = Field(description="the Optuna study: <task>/<method>/<name>@<budget key>")
    number: int = Field(description="the trial's number in its study")
    params: dict[str, Any] = Field(description="the searched values of this trial, by dotted key")
    source: str = Field(description="the experiment searched, <method>/<name>")
    objective: str = Field(description="what the search maximises, e.g. 'valid accuracy'")
    confirms: bool | None = Field(default=None, description="true: not a new trial, but trial `number` trained "
                                  "again with the confirmation seed before its configuration may replace the default")


class TunedInfo(_Open):
    """Set on the records of an experiment written by `peftbench tune` (<method>/tuned-<name>)."""

    study: str
    source: str = Field(description="the experiment searched, <method>/<name>")
    selected_on: str = Field(description="the split that chose the configuration (validation)")
    objective: str
    params: dict[str, Any] = Field(description="the chosen values, by dotted key")
    trial: int = Field(description="the winning trial's number")
    value: Number | None = Field(default=None, description="the winner's validation score")
    trials: int = Field(description="trials the search ran (the same budget for every method)")
    max_steps: int | None = Field(default=None, description="training steps per trial")
    kept_default: bool | None = Field(default=None, description="true: no trial beat the default (trial 0) on "
                                      "validation, or one did but not again with the confirmation seed")
    confirmation: dict[str, Any] | None = Field(default=None, description="the winner and the default re-scored "
                                                "with a second seed: seeds, scores, means")


class RunInfo(_Open):
    created_at: str | None = Field(default=None, description="start time, ISO 8601 UTC")
    total_time: Number | None = Field(default=None, description="seconds, the whole run")
    experiment_name: str | None = Field(default=None, description="<method>/<name>")
    task: str | None = Field(default=None, description="task name (the reference's files lack it: their folder names it)")
    train_config: dict[str, Any] | None = Field(default=None, description="the validated, merged training config")
    peft_config: dict[str, Any] | None = Field(default=None, description="the adapter config as peft resolved it; null = full fine-tuning")
    seed: int | None = None
    config_hash: str | None = Field(default=None, description="hash of task, train config, peft config, seed")
    peftbench_version: str | None = None
    extractor_version: str | None = Field(default=None, description="text tasks: answer extractor version")
    git: GitInfo | None = Field(default=None, description="the peftbench checkout that ran")
    peft_branch: str | None = Field(default=None, description="git branch of peft when it runs from a source "
                                    "checkout, else null (the reference suite's key; its app reads it)")
    peft_worktree_is_dirty: bool | None = Field(default=None, description="the reference suite's key: whether the "
                                                "checkout that ran (ours: git.dirty) had uncommitted changes")
    error_msg: str = Field(default="", description="why a run did not succeed; empty on success")
    source: str | None = Field(default=None, description="set by `peftbench import`: where the record came from")
    trial: TrialInfo | None = Field(default=None, description="a tuning trial (never a leaderboard row)")
    tuned: TunedInfo | None = Field(default=None, description="the configuration came from `peftbench tune`")

    # Names become folder names (import, report samples): a record whose task is `../..` or `/etc`
    # is not one we trust, so it fails to parse and readers skip it with a warning naming the file.
    @field_validator("task", "source")
    @classmethod
    def _plain_name(cls, value: str | None) -> str | None:
        if value is not None and not is_name(value):
            raise ValueError(f"{value!r} is not a name of {NAME_RULE}")
        return value

    @field_validator("experiment_name")
    @classmethod
    def _experiment_name(cls, value: str | None) -> str | None:
        if value is not None and not is_experiment_name(value):
            raise ValueError(f"{value!r} is not <method>/<name> of {NAME_RULE}")
        return value


class TrainInfo(_Open):
    status: Status = Field(description="success -> results/, cancelled (stopped from outside) or failed -> cancelled_results/")
    train_time: Number | None = Field(default=None, description="seconds of training steps only")
    total_time: Number | None = None
    accelerator_memory_max: Number | None = Field(default=None, description="bytes above the level before training: peak")
    accelerator_memory_reserved_avg: Number | None = Field(default=None, description="... mean over training")
    accelerator_memory_reserved_99th: Number | None = Field(default=None, description="... 99th percentile")
    memory_kind: str | None = Field(default=None, description="cuda-reserved | cpu-rss")
    accelerator_memory_allocated_max: Number | None = Field(
        default=None, description="CUDA only: bytes allocated to tensors above the level before training, peak "
        "(the allocator's figure nearest the accounted one); absent on CPU")
    accounted_memory_max: Number | None = Field(
        default=None, description="bytes training must hold at its peak step, counted tensor by tensor (parameters, "
        "gradients, optimizer state, peak of tensors saved for backward); independent of the allocator and device")
    accounted_memory_avg: Number | None = Field(default=None, description="... mean over training steps")
    accounted_memory_breakdown: dict[str, Number] | None = Field(
        default=None, description="bytes of each accounted component at the peak step")
    eval_memory_max: Number | None = Field(default=None, description="bytes above the level before the test pass: peak")
    file_size: Number | None = Field(default=None, description="bytes of the saved adapter (full fine-tuning: the model)")
    num_trainable_params: Number | None = None
    num_total_params: Number | None = None
    retention: dict[str, Any] | None = Field(
        default=None, description="what else the model can still do (afterwards/): per measurement ('instructions', "
        "lm-eval task names) its status ('measured' or 'not measured: <why>'), version, size and figures for the base "
        "and the tuned model")
    inference: dict[str, Any] | None = Field(
        default=None, description="generation timing (afterwards/overhead.py): status, settings, and per model "
        "(base, unmerged, merged) and prompt length the median seconds to the first token and per further token, "
        "with the spread of the per-round ratios to the base")
    early_stop: dict[str, Any] | None = Field(
        default=None, description="the look part-way that RunConfig.early_stop asked for: step, items scored, score, "
        "the bar (below) and whether training stopped there (stopped); absent without one")
    metrics: list[dict[str, Any]] = Field(default_factory=list,
                                          description="one row per logging window, then the final row with the test metrics")


class MetaInfo(_Open):
    model_info: dict[str, Any] | None = Field(default=None, description="what identifies the base model (id, "
                                              "revision, dtype, ...)")
    dataset_info: dict[str, Any] | None = Field(default=None, description="what identifies the task's data; text "
                                                "tasks also the forgetting sample's")
    package_info: dict[str, Any] | None = Field(
        default=None, description="<package>-version (null: not installed) and <package>-commit-hash of each "
        "relevant package, and peftbench-lock: the lock the environment was installed from")
    system_info: dict[str, Any] | None = Field(default=None, description="operating system, CPU, thread settings "
                                               "and the accelerator used")
    pytorch_info: str | None = Field(default=None, description="torch's build configuration, as torch prints it")


class ResultRecord(_Open):
    run_info: RunInfo
    train_info: TrainInfo
    meta_info: MetaInfo = Field(default_factory=MetaInfo)
    rl_eval_info: dict[str, Any] | None = Field(
        default=None, description="runs trained with GRPO: the reference suite's RL figures — test_pass_at_1 (greedy), "
        "reward_mean, reward_std and kl_mean of the last training step, num_eval_samples")

    @property
    def status(self) -> str:
        return self.train_info.status

    def final_metrics(self) -> dict[str, Any]:
        """The final row (with the test metrics) of a finished run; {} for a run that never got there."""
        for row in reversed(self.train_info.metrics):
            if isinstance(row, dict) and any(str(key).startswith("test ") for key in row):
                return row
        return {}

    def window_rows(self) -> list[dict[str, Any]]:
        """The per-window rows (validation, throughput), without the final one."""
        return [row for row in self.train_info.metrics
                if isinstance(row, dict) and not any(str(key).startswith("test ") for key in row)]

    def to_json(self) -> dict[str, Any]:
        """The record as written: the fields its writer set (explicit nulls included) and extra keys."""
        return self.model_dump(mode="json", exclude_unset=True)


class NotARecord(UserError, ValueError):
    """A file that is not a result record: one line naming the file and what is wrong. A UserError, so a
    command that needs the record stops with that line."""


def parse_record(data: Any, source: Path | str) -> ResultRecord:
    try:
        return ResultRecord.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(top level)"
        raise NotARecord(f"{source}: not a result record ({where}: {first['msg']})") from None


def read_record(path: Path | str) -> ResultRecord:
    """Parse one result file; NotARecord naming the file when it is not a record.

    Read strictly (safe_json): a named pipe called `*.json` cannot block a reader, JSON nested 100k
    deep cannot overflow the stack, duplicate keys are not silently merged, a dangling symlink says so."""
    path = Path(path)
    try:
        data = read_json(path, RECORD_MAX_BYTES)
    except FileNotFoundError:
        raise NotARecord(f"{path}: file not found") from None
    except OSError as err:
        raise NotARecord(f"{path}: cannot read ({err.strerror or err})") from None
    except BadFile as err:
        raise NotARecord(str(err)) from None
    return parse_record(data, path)


def read_record_or_none(path: Path | str, warn: Callable[[str], None] | None = None) -> ResultRecord | None:
    """The record in `path`, or None when it is not one (missing, unreadable, not a record) after one line
    `warn("skipped <path>: why")`; silently without `warn`. For folders of mixed files, and for results a
    run may not have left (a sweep deciding what is due)."""
    try:
        return read_record(path)
    except NotARecord as exc:
        if warn is not None:
            warn(f"skipped {exc}")
        return None


def json_schema() -> dict[str, Any]:
    return ResultRecord.model_json_schema()
