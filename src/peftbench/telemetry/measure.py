"""Measurements taken during a run: memory, parameter counts, sizes on disk, timers.

The figures follow docs/design.md, "Metrics": memory is reported *above the level before the
phase started*, so the numbers describe the phase (training or evaluation), not the base model load.
"""

from __future__ import annotations

import contextlib
import gc
import os
import threading
import time
from pathlib import Path

import numpy as np
import psutil
import torch

# Fast enough to catch a step's transient peak on CPU (a LoRA step there takes ~seconds),
# slow enough that the sampling thread costs nothing measurable.
CPU_SAMPLE_INTERVAL_S = 0.05


class MemorySampler:
    """Memory used by one phase, as max / mean / 99th percentile above a baseline.

    CUDA: the caching allocator's reserved bytes (what other processes cannot use), sampled once per
    step by the caller, plus the allocator's own recorded peak, which catches the peak *inside* a step;
    beside them the peak of bytes allocated to tensors (`allocated_max`), the figure closest to what
    `memory_accounting.AccountedMemory` counts, so the two can be compared on a GPU.
    CPU (and any other device): the process's resident memory. There is no allocator peak counter, so
    a background thread samples every 50 ms in addition to the per-step samples.
    """

    def __init__(self, device: torch.device | str):
        self.device = torch.device(device)
        self.is_cuda = self.device.type == "cuda"
        self.kind = "cuda-reserved" if self.is_cuda else "cpu-rss"
        self.baseline = 0
        self.samples: list[int] = []
        self._process = psutil.Process()
        self._stop_event = threading.Event()
        self._thread: threading.Thread | None = None
        self._reserved_peak = 0  # CUDA: the reserved peak so far, over pauses and resets
        self._allocated_baseline = 0
        self._allocated_peak = 0  # CUDA: the allocated peak so far, over pauses and resets
        self._paused = False
        self._running = False

    def _level(self) -> int:
        if self.is_cuda:
            return torch.cuda.memory_reserved(self.device)
        return self._process.memory_info().rss

    def _carry_peaks(self) -> None:
        """Fold the allocator's peaks since its last reset into this phase's."""
        self._reserved_peak = max(self._reserved_peak, torch.cuda.max_memory_reserved(self.device))
        self._allocated_peak = max(self._allocated_peak, torch.cuda.max_memory_allocated(self.device))

    def start(self) -> MemorySampler:
        self.stop()  # a restart must not leave the previous thread appending to the new samples
        if self.is_cuda:
            # Without the reset, the peak would include whatever happened before this phase.
            torch.cuda.reset_peak_memory_stats(self.device)
            self._allocated_baseline = self._allocated_peak = torch.cuda.memory_allocated(self.device)
        else:
            # Garbage collected during the phase would otherwise lower the level below a baseline
            # that still counted it, hiding the phase's own growth (and sometimes all of it).
            gc.collect()
        self.baseline = self._level()
        self.samples = []
        self._reserved_peak = 0
        self._paused = False
        self._running = True
        if not self.is_cuda:
            self._stop_event.clear()
            self._thread = threading.Thread(target=self._poll, name="peftbench-rss-sampler", daemon=True)
            self._thread.start()
        return self

    def _poll(self) -> None:
        # Event.wait doubles as the sleep, so stop() ends the thread without waiting a full interval.
        while not self._stop_event.is_set():
            if not self._paused:
                self.samples.append(self._level())
            self._stop_event.wait(CPU_SAMPLE_INTERVAL_S)

    def sample(self) -> None:
        """Record the current level; the training loop calls this once per step."""
        if not self._paused:
            self.samples.append(self._level())

    @contextlib.contextmanager
    def paused(self):
        """Leave a stretch out of this phase (validation between training windows), so training's
        figures are training's own."""
        if self.is_cuda and self._running:
            self._carry_peaks()
        self._paused = True
        try:
            yield
        finally:
            self._paused = False
            if self.is_cuda and self._running:
                torch.cuda.reset_peak_memory_stats(self.device)

    def stop(self) -> None:
        """End the phase; calling it again (or without start) does nothing."""
        if not self._running:
            return
        self._running = False
        if self.is_cuda:
            # Read the peaks now: a later phase may reset the allocator's counters.
            self._carry_peaks()
            return
        self._stop_event.set()
        self._thread.join()
        self._thread = None
        # A phase shorter than one interval would otherwise have only its starting level.
        self.samples.append(self._level())

    def summary(self) -> dict:
        """Bytes above the baseline: `max`, `avg`, `p99` (ints), plus `kind`."""
        # Copy first: on CPU the sampling thread may still be appending.
        samples = np.asarray(list(self.samples), dtype=np.int64)
        peak = int(samples.max()) if samples.size else None
        if self.is_cuda:
            # The allocator's peak sees inside a step, where per-step samples cannot look.
            if self._running:  # summary() mid-phase: the counters are still ours
                self._carry_peaks()
            cuda_peak = self._reserved_peak
            peak = max(peak or 0, cuda_peak) if (samples.size or cuda_peak) else None
        if peak is None:
            return {"max": 0, "avg": 0, "p99": 0, "kind": self.kind}
        avg = float(samples.mean()) if samples.size else self.baseline
        p99 = float(np.percentile(samples, 99)) if samples.size else self.baseline
        summary = {
            "max": self._above_baseline(peak),
            "avg": self._above_baseline(avg),
            "p99": self._above_baseline(p99),
            "kind": self.kind,
        }
        if self.is_cuda:
            summary["allocated_max"] = max(0, self._allocated_peak - self._allocated_baseline)
        return summary

    def _above_baseline(self, value: float) -> int:
        # Memory can be freed below the starting level; "negative usage" would only confuse readers.
        return max(0, int(value) - self.baseline)

    def __enter__(self) -> MemorySampler:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()


def count_parameters(model: torch.nn.Module) -> tuple[int, int]:
    """(trainable, total) parameters.

    peft's own count is preferred: it counts 4-bit packed weights at their logical size and includes
    prompt-learning embeddings that are not plain parameters of the wrapped model.
    """
    peft_count = getattr(model, "get_nb_trainable_parameters", None)
    if callable(peft_count):
        trainable, total = peft_count()
        return int(trainable), int(total)
    params = list(model.parameters())
    trainable = sum(p.numel() for p in params if p.requires_grad)
    return trainable, sum(p.numel() for p in params)


def dir_size(path: str | os.PathLike) -> int:
    """Bytes of all files under a folder, or of a single file."""
    path = Path(path)
    if path.is_file():
        return path.stat().st_size
    if not path.is_dir():
        raise FileNotFoundError(f"no such file or folder: {path}")
    # Symlinks are skipped: they would count a file outside the checkpoint, or one file twice.
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


class Stopwatch:
    """Accumulating timer: each `with sw:` block adds its wall time to `sw.total` (seconds).

    train_time must count training steps only, so the loop wraps each step and leaves validation and
    logging outside.
    """

    def __init__(self) -> None:
        self.total = 0.0
        self._started: float | None = None

    def __enter__(self) -> Stopwatch:
        if self._started is not None:
            raise RuntimeError("Stopwatch is already running; nested use would count time twice")
        self._started = time.perf_counter()
        return self

    def __exit__(self, *exc_info) -> None:
        self.total += time.perf_counter() - self._started
        self._started = None
