import gc
import time

import numpy as np
import pytest
import torch

from peftbench.telemetry.measure import MemorySampler, Stopwatch, count_parameters, dir_size

MB = 1024 * 1024


def test_cpu_sampler_sees_allocation_inside_the_phase():
    with MemorySampler(torch.device("cpu")) as sampler:
        # np.ones writes every page, so the memory is really resident (np.zeros may stay virtual).
        block = np.ones(200 * MB, dtype=np.uint8)
        time.sleep(0.2)  # let the background thread see it, as it would during a long step
        del block
    summary = sampler.summary()
    assert summary["kind"] == "cpu-rss"
    assert summary["max"] >= 100 * MB
    assert 0 <= summary["avg"] <= summary["max"]
    assert 0 <= summary["p99"] <= summary["max"]
    assert all(isinstance(summary[key], int) for key in ("max", "avg", "p99"))


def test_background_thread_catches_a_peak_between_step_samples():
    sampler = MemorySampler("cpu").start()
    sampler.sample()
    block = torch.ones(50 * MB // 4)  # float32: 50 MB, freed before the next per-step sample
    seen = len(sampler.samples)
    deadline = time.monotonic() + 30  # on a loaded machine the thread may wait long for its turn
    while len(sampler.samples) < seen + 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    del block
    sampler.sample()
    sampler.stop()
    assert sampler.summary()["max"] >= 25 * MB


def test_garbage_collected_during_the_phase_does_not_hide_its_growth():
    # A reference cycle holding 80 MB, left over from earlier work: only the collector frees it.
    cycle = [torch.ones(80 * MB // 4)]
    cycle.append(cycle)
    del cycle
    sampler = MemorySampler("cpu").start()
    gc.collect()  # what an allocation inside the phase can trigger at any moment
    block = torch.ones(50 * MB // 4)
    sampler.sample()
    del block
    sampler.stop()
    assert sampler.summary()["max"] >= 25 * MB


def test_stop_is_idempotent_and_thread_ends():
    sampler = MemorySampler("cpu")
    sampler.stop()  # before start: nothing to do
    sampler.start()
    thread = sampler._thread
    sampler.stop()
    sampler.stop()
    assert not thread.is_alive()


def test_summary_without_samples_is_zero():
    assert MemorySampler("cpu").summary() == {"max": 0, "avg": 0, "p99": 0, "kind": "cpu-rss"}


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_sampler_uses_allocator_peak():
    device = torch.device("cuda")
    with MemorySampler(device) as sampler:
        sampler.sample()
        block = torch.ones(256 * MB // 4, device=device)
        del block  # freed before any sample: only the allocator's peak can see it
        sampler.sample()
    summary = sampler.summary()
    assert summary["kind"] == "cuda-reserved"
    assert summary["max"] >= 256 * MB
    assert summary["p99"] <= summary["max"]


def test_count_parameters_plain_module():
    layer = torch.nn.Linear(4, 3)  # weight 12 + bias 3
    layer.bias.requires_grad_(False)
    assert count_parameters(layer) == (12, 15)


def test_count_parameters_prefers_peft_count():
    class FakePeftModel(torch.nn.Linear):
        def get_nb_trainable_parameters(self):
            return 7, 99

    assert count_parameters(FakePeftModel(2, 2)) == (7, 99)


def test_dir_size(tmp_path):
    (tmp_path / "a.bin").write_bytes(b"x" * 10)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.bin").write_bytes(b"y" * 5)
    assert dir_size(tmp_path) == 15
    assert dir_size(tmp_path / "a.bin") == 10
    with pytest.raises(FileNotFoundError):
        dir_size(tmp_path / "missing")


def test_stopwatch_accumulates_only_inside_blocks():
    sw = Stopwatch()
    for _ in range(3):
        with sw:
            time.sleep(0.02)
        time.sleep(0.05)  # outside: must not count
    assert 0.06 <= sw.total < 0.2  # the outside sleeps alone add 0.15


def test_stopwatch_counts_a_block_that_raised():
    sw = Stopwatch()
    with pytest.raises(ValueError), sw:
        raise ValueError
    assert sw.total > 0
    with sw:  # still usable afterwards
        pass


class FakeAllocator:
    """torch.cuda's memory counters, driven by the test: what a CUDA caching allocator reports."""

    def __init__(self, monkeypatch):
        self.reserved = self.allocated = self.peak_reserved = self.peak_allocated = 0
        for name in ("memory_reserved", "memory_allocated", "max_memory_reserved", "max_memory_allocated",
                     "reset_peak_memory_stats"):
            monkeypatch.setattr(torch.cuda, name, getattr(self, name))

    def hold(self, reserved: int, allocated: int) -> None:
        self.reserved, self.allocated = reserved, allocated
        self.peak_reserved = max(self.peak_reserved, reserved)
        self.peak_allocated = max(self.peak_allocated, allocated)

    def memory_reserved(self, device=None):
        return self.reserved

    def memory_allocated(self, device=None):
        return self.allocated

    def max_memory_reserved(self, device=None):
        return self.peak_reserved

    def max_memory_allocated(self, device=None):
        return self.peak_allocated

    def reset_peak_memory_stats(self, device=None):
        self.peak_reserved, self.peak_allocated = self.reserved, self.allocated


def test_cuda_phase_reports_reserved_and_allocated_peaks_above_its_start_leaving_out_pauses(monkeypatch):
    cuda = FakeAllocator(monkeypatch)
    cuda.hold(reserved=1000, allocated=800)  # the loaded model, before training
    sampler = MemorySampler("cuda").start()
    cuda.hold(reserved=5000, allocated=4000)  # inside a step: only the allocator's peaks see it
    cuda.hold(reserved=3000, allocated=1500)
    sampler.sample()
    with sampler.paused():  # validation: larger, but not training
        cuda.hold(reserved=9000, allocated=8000)
        cuda.hold(reserved=3000, allocated=1500)
    sampler.sample()
    sampler.stop()
    cuda.hold(reserved=20000, allocated=20000)  # a later phase resets nothing of this one's figures
    cuda.reset_peak_memory_stats()
    summary = sampler.summary()
    assert summary["kind"] == "cuda-reserved"
    assert summary["max"] == 5000 - 1000
    assert summary["allocated_max"] == 4000 - 800
    assert summary["avg"] == 3000 - 1000


def test_cpu_phase_has_no_allocated_figure():
    with MemorySampler("cpu") as sampler:
        pass
    assert "allocated_max" not in sampler.summary()
