"""The result record of a run (`peftbench.records.record.ResultRecord`), built from what the run accumulated."""

from __future__ import annotations

import time
from typing import Any

from peftbench import __version__
from peftbench.records import reference_compat
from peftbench.system import environment
from peftbench.metrics import (ACCOUNTED_AVG, ACCOUNTED_MAX, KL, MEMORY_ALLOCATED, REWARD, REWARD_STD, TEST_ACCURACY,
                               TRAIN_LOSS, TRAIN_SAMPLES, TRAIN_TOKENS, sampled_metric)
from peftbench.pipeline.state import Row, RunState
from peftbench.planning.config import trains_with_grpo
from peftbench.records.record import GitInfo, MetaInfo, ResultRecord, RunInfo, TrainInfo
from peftbench.records.status import SUCCESS, Status
from peftbench.system.signals import describe


def build_record(run: RunState, status: Status, error: BaseException | None) -> ResultRecord:
    total = time.perf_counter() - run.started
    run_info = _run_info(run, total, error)
    train_info = _train_info(run, status, total)
    meta_info = MetaInfo(
        model_info=run.model_info,
        dataset_info={**run.task.dataset_info(run.cfg), **run.dataset_info_extra},
        package_info={**environment.package_info(), **reference_compat.commit_hashes()},
        system_info=environment.system_info(),
        pytorch_info=environment.pytorch_info(),
    )
    rl = rl_eval_info(run) if status == SUCCESS and trains_with_grpo(run.cfg) else None
    return ResultRecord(run_info=run_info, train_info=train_info, meta_info=meta_info,
                        **({"rl_eval_info": rl} if rl else {}))


def _run_info(run: RunState, total: float, error: BaseException | None) -> RunInfo:
    plan, git = run.plan, environment.git_info()
    tuning: dict[str, Any] = {key: value for key, value in (("trial", plan.experiment.trial),
                                                             ("tuned", plan.experiment.tuned)) if value}
    return RunInfo(
        created_at=run.created_at,
        total_time=total,
        experiment_name=plan.experiment.full_name,
        task=plan.task,
        train_config=plan.cfg.model_dump(mode="json"),
        peft_config=run.peft_config if run.peft_config is not None else plan.experiment.peft_config,
        seed=plan.seed,
        config_hash=plan.config_hash,
        peftbench_version=__version__,
        **run.run_info_extra,
        **tuning,
        git=GitInfo(**git),
        peft_worktree_is_dirty=git["dirty"],
        peft_branch=reference_compat.peft_branch(),
        error_msg="" if error is None else describe(error),
    )


def _train_info(run: RunState, status: Status, total: float) -> TrainInfo:
    mem, emem, acc = run.train_memory, run.eval_memory, run.accounted_memory
    optional: dict[str, Any] = {
        **({MEMORY_ALLOCATED.key: mem["allocated_max"]} if "allocated_max" in mem else {}),
        **({ACCOUNTED_MAX.key: acc["max"], ACCOUNTED_AVG.key: acc["avg"],
            "accounted_memory_breakdown": acc["breakdown"]} if acc.get("breakdown") else {}),
        **({"retention": run.retention} if run.retention else {}),
        **({"inference": run.inference} if run.inference else {}),
        **({"early_stop": run.early_stop} if run.early_stop else {}),
    }
    return TrainInfo(
        status=status,
        train_time=run.state.train_time.total,
        total_time=total,
        accelerator_memory_max=mem.get("max"),
        accelerator_memory_reserved_avg=mem.get("avg"),
        accelerator_memory_reserved_99th=mem.get("p99"),
        memory_kind=mem.get("kind") or emem.get("kind"),
        eval_memory_max=emem.get("max"),
        file_size=run.file_size,
        num_trainable_params=run.params[0],
        num_total_params=run.params[1],
        metrics=run.state.metrics + ([_final_row(run)] if status == SUCCESS else []),
        **optional,
    )


def _final_row(run: RunState) -> Row:
    plan, state = run.plan, run.state
    row = {"step": state.step, **run.final, TRAIN_LOSS.key: state.last_loss, TRAIN_SAMPLES.key: state.samples,
           **({TRAIN_TOKENS.key: state.tokens} if state.tokens or plan.spec.kind == "text" else {})}
    row.update(reference_compat.final_aliases(plan.task, row))  # the reference app's names
    return row


def rl_eval_info(run: RunState) -> dict[str, Any]:
    """The reference suite's RL section: greedy pass@1 on the test split and the last step's training
    reward, its spread and the KL to the starting model."""
    last: Row = next((row for row in reversed(run.state.metrics) if REWARD.key in row), {})
    tested = [row for row in run.predictions if row.get("test_set") == run.plan.task]
    sampled = getattr(run.cfg, "sampled", None)  # text configs only; ours, beside the reference's names
    return {"test_pass_at_1": run.final.get(TEST_ACCURACY.key), "reward_mean": last.get(REWARD.key),
            "reward_std": last.get(REWARD_STD.key), "kl_mean": last.get(KL.key), "num_eval_samples": len(tested),
            **({"test_pass_at_k": {str(k): run.final.get(sampled_metric(k)) for k in sampled.k}} if sampled else {})}
