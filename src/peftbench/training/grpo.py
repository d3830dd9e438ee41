"""GRPO: reinforcement learning with verifiable rewards, as a second way to train any text task that can
score an answer. TRL's `GRPOTrainer` does the sampling, the group-normalised advantages, the clipped
policy loss and the KL penalty — the field's implementation, not a new one; this module feeds it and
wraps it in the run pipeline so a GRPO run behaves as a supervised one does:

- the same model and adapter (`prepare_training` wraps it; TRL gets the PeftModel or the full model),
  the same optimizer and schedule (passed to TRL as they are), the same seed;
- the reward is the task's own scorer (1 for a correct final answer, 0 otherwise), plus, when the config
  asks, a small format reward for ending with the task's answer phrase;
- a callback gives each optimizer step to the accounted memory (before the gradients are zeroed), the
  memory sampler, the progress bar and the heartbeat, checks for stop signals, validates every
  `eval_steps` (greedy accuracy on the validation split: what `tune` maximises) and writes window rows
  with TRL's figures (reward mean and std, KL to the reference model, completion length) for the
  record, the trackers and the report's reward curves;
- training reads only the training split; the test set is scored once afterwards, greedily, by the
  same code as a supervised run's.

Starting from an earlier run's adapter (`grpo.init_adapter`: a `<stem>.adapter/` folder that
`--save-adapter` kept) trains that adapter further, since RL usually follows supervised fine-tuning.
"""

from __future__ import annotations

import tempfile
import time

from peftbench.metrics import EVAL_TIME, METRICS, REWARD, TRAIN_SAMPLES
from peftbench.system.signals import check_stop
from peftbench.training.hooks import Hooks, Meters
from peftbench.training.hooks import TrainState

# TRL's logged figures -> our window-row keys: the metrics that declare a TRL key (`Metric.trl`).
FROM_TRL = {m.trl: m.key for m in METRICS.values() if m.trl}


def prompts_dataset(task, cfg, format_prompt):
    """The training split as TRL's dataset: the prompt as every text run writes it, and the gold answer."""
    from datasets import Dataset

    examples = task.train_examples(cfg)
    return Dataset.from_list([{"prompt": format_prompt(cfg.query_template, ex.question), "gold": ex.gold}
                              for ex in examples])


def reward_functions(task, settings) -> list:
    """The task's scorer as a reward (1 correct, 0 not), and the optional format reward."""

    def correct(completions, gold, **_):
        return [1.0 if task.score(text, answer).correct else 0.0 for text, answer in zip(completions, gold)]

    correct.__name__ = "correct"
    if not settings.format_reward:
        return [correct]
    phrase = settings.answer_phrase

    def format_(completions, **_):  # an answer the extractor finds without guessing
        return [settings.format_reward if phrase in text else 0.0 for text in completions]

    format_.__name__ = "format"
    return [correct, format_]


def grpo_arguments(cfg, output_dir: str):
    """TRL's GRPOConfig from a run's config: the run's steps, seed and batch (prompts x generations)."""
    from trl import GRPOConfig

    g = cfg.grpo
    return GRPOConfig(
        output_dir=output_dir, max_steps=cfg.max_steps, seed=cfg.seed, data_seed=cfg.seed,
        per_device_train_batch_size=cfg.batch_size * g.num_generations, num_generations=g.num_generations,
        gradient_accumulation_steps=1, max_completion_length=g.max_new_tokens, temperature=g.temperature,
        beta=g.beta, loss_type=g.loss_type, logging_steps=1, report_to=[], save_strategy="no",
        use_cpu=not _cuda(), bf16=cfg.use_amp and _cuda(), disable_tqdm=True, max_grad_norm=cfg.grad_norm_clip or 0.0,
        learning_rate=cfg.optimizer_kwargs.get("lr", 1e-4), remove_unused_columns=False,
        # TRL turns gradient checkpointing on by default; the run's use_gc decides, as for supervised runs
        # (with it on, generation in training mode runs without a KV cache: 20 steps took over an hour on CPU)
        gradient_checkpointing=cfg.use_gc,
    )


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def train_grpo(model, tokenizer, task, cfg, state: TrainState, optimizer, scheduler, meters: Meters, hooks: Hooks,
               format_prompt) -> TrainState:
    """Train `model` with GRPO for cfg.max_steps; `state` filled in place, `meters` and `hooks` used as
    `sft.train` uses them."""
    from transformers import TrainerCallback
    from transformers.trainer_callback import PrinterCallback, ProgressCallback
    from trl import GRPOTrainer

    class Bridge(TrainerCallback):
        """TRL's loop, seen by the pipeline: memory, progress, stops, validation and window rows."""

        def __init__(self):
            self.window_start = time.perf_counter()

        def on_optimizer_step(self, args, trl_state, control, **kwargs):
            if meters.accounted is not None:
                meters.accounted.step()  # after the optimizer step, before the gradients are zeroed

        def on_step_end(self, args, trl_state, control, **kwargs):
            check_stop()
            meters.memory.sample()
            state.step = trl_state.global_step
            hooks.on_step(state)
            if not hooks.keep_going(state):
                control.should_training_stop = True

        def on_log(self, args, trl_state, control, logs=None, **kwargs):
            if not logs or REWARD.trl not in logs:
                return
            step = trl_state.global_step
            state.samples += cfg.batch_size
            state.tokens = int(logs.get("num_tokens", state.tokens))
            state.train_time.total += float(logs.get("step_time", 0.0))
            state.last_loss = float(logs.get("loss", float("nan")))
            row = {"step": step, **{ours: float(logs[theirs]) for theirs, ours in FROM_TRL.items() if theirs in logs},
                   TRAIN_SAMPLES.key: state.samples}
            if step % cfg.eval_steps == 0 or step == cfg.max_steps:
                started = time.perf_counter()
                row.update(hooks.validate())
                row[EVAL_TIME.key] = time.perf_counter() - started
            state.metrics.append(row)
            hooks.on_window(row)

    with tempfile.TemporaryDirectory(prefix="peftbench-grpo-") as scratch:
        trainer = GRPOTrainer(model=model, reward_funcs=reward_functions(task, cfg.grpo),
                              args=grpo_arguments(cfg, scratch), train_dataset=prompts_dataset(task, cfg, format_prompt),
                              processing_class=tokenizer, optimizers=(optimizer, scheduler), callbacks=[Bridge()])
        for printer in (PrinterCallback, ProgressCallback):  # peftbench draws its own progress and logs
            trainer.remove_callback(printer)
        trainer.train()
    return state
