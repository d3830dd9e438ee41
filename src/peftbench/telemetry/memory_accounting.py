"""Accounted training memory: what training must hold, counted tensor by tensor, not read from an allocator.

A process's resident memory (and, less so, a CUDA caching allocator's reserve) depends on the
allocator's history: the same run can show 379 MB once and 1,738 MB another time, and a method that
trains 85x fewer parameters can look bigger. This counts, per training step, the bytes that any
device would have to hold for that step:

- parameters: every parameter of the model (frozen base weights included; tied weights once),
- gradients: the `.grad` of every parameter after the backward pass,
- optimizer state: every tensor in the optimizer's state (Adam's moments, step counters),
- saved activations: the peak, during the step, of the tensors autograd keeps for the backward pass,
  seen through `torch.autograd.graph.saved_tensors_hooks` and counted once per storage (a view and
  its base, or one tensor saved by several operations, are one block of memory). Parameters that
  autograd saves (a frozen weight kept for the input gradient) are already counted as parameters.

The step's figure is their sum; a run's figures are the max and mean over steps. Everything counted
is fixed by shapes, so the same run gives the same figures, on any machine and any allocator.
Transient buffers inside an operation (a matmul's workspace) are not counted, and with gradient
checkpointing only the tensors saved outside the checkpointed blocks are.
"""

from __future__ import annotations

from typing import Iterable

import torch

COMPONENTS = ("parameters", "gradients", "optimizer_state", "saved_activations")


def _storage_key(tensor: torch.Tensor) -> tuple[int, int] | None:
    """(address, bytes) of the memory block a tensor lives in, or None when it has none to count."""
    try:
        storage = tensor.untyped_storage()
        return storage.data_ptr(), storage.nbytes()
    except (RuntimeError, NotImplementedError, TypeError):  # meta, sparse or exotic tensor subclasses
        return None


def unique_bytes(tensors: Iterable[torch.Tensor]) -> int:
    """Bytes of the distinct storages behind `tensors` (shared or tied storage counted once)."""
    seen: dict[int, int] = {}
    for tensor in tensors:
        key = _storage_key(tensor)
        if key is not None:
            seen[key[0]] = key[1]
    return sum(seen.values())


class _Held:
    """What the pack hook hands autograd instead of the tensor: when autograd drops it (the graph is
    freed after backward), the storage is released from the live count."""

    __slots__ = ("tensor", "key", "owner")

    def __init__(self, tensor, key, owner):
        self.tensor, self.key, self.owner = tensor, key, owner

    def __del__(self):
        self.owner._release(self.key)


class AccountedMemory:
    """Per-step accounted memory of a training run.

    Use: `with AccountedMemory(model, optimizer) as acc:` around the training steps, `acc.step()`
    after each optimizer step (before the gradients are zeroed), then `acc.summary()`."""

    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer):
        self.model, self.optimizer = model, optimizer
        self.steps: list[dict[str, int]] = []
        self._live: dict[int, list[int]] = {}  # storage address -> [bytes, references]
        self._live_bytes = 0
        self._peak_bytes = 0
        self._parameter_storages: set[int] = set()
        self._hooks = None

    # -- saved tensors -------------------------------------------------------------------------------
    def _pack(self, tensor: torch.Tensor):
        key = _storage_key(tensor)
        if key is None or key[0] in self._parameter_storages:
            return tensor
        entry = self._live.get(key[0])
        if entry is None:
            self._live[key[0]] = [key[1], 1]
            self._live_bytes += key[1]
            self._peak_bytes = max(self._peak_bytes, self._live_bytes)
        else:
            entry[1] += 1
        return _Held(tensor, key[0], self)

    @staticmethod
    def _unpack(packed):
        return packed.tensor if isinstance(packed, _Held) else packed

    def _release(self, address: int) -> None:
        entry = self._live.get(address)
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] == 0:
            del self._live[address]
            self._live_bytes -= entry[0]

    # -- steps ---------------------------------------------------------------------------------------
    def __enter__(self) -> AccountedMemory:
        params = list(self.model.parameters())
        self._parameter_storages = {k[0] for k in map(_storage_key, params) if k is not None}
        self._hooks = torch.autograd.graph.saved_tensors_hooks(self._pack, self._unpack)
        self._hooks.__enter__()
        self._peak_bytes = self._live_bytes
        return self

    def __exit__(self, *exc_info) -> None:
        hooks, self._hooks = self._hooks, None
        if hooks is not None:
            hooks.__exit__(*exc_info)

    def step(self) -> dict[str, int]:
        """Record the step just taken: call after `optimizer.step()`, while gradients still exist."""
        if self._hooks is None:
            raise RuntimeError("AccountedMemory.step() outside `with AccountedMemory(...)`: saved tensors were not seen")
        params = [p for p in self.model.parameters()]
        row = {
            "parameters": unique_bytes(params),
            "trainable_parameters": unique_bytes(p for p in params if p.requires_grad),
            "gradients": unique_bytes(p.grad for p in params if p.grad is not None),
            "optimizer_state": unique_bytes(
                v for state in self.optimizer.state.values() for v in state.values() if isinstance(v, torch.Tensor)
            ),
            "saved_activations": self._peak_bytes,
        }
        row["total"] = sum(row[k] for k in COMPONENTS)
        self.steps.append(row)
        self._peak_bytes = self._live_bytes  # the next step's peak starts from what is still held
        return row

    def summary(self) -> dict:
        """`max` and `avg` bytes over steps, and `breakdown`: the components at the peak step."""
        if not self.steps:
            return {"max": 0, "avg": 0, "breakdown": {}, "kind": "accounted"}
        totals = [row["total"] for row in self.steps]
        peak = self.steps[totals.index(max(totals))]
        return {
            "max": max(totals),
            "avg": int(round(sum(totals) / len(totals))),
            "breakdown": {k: v for k, v in peak.items() if k != "total"},
            "kind": "accounted",
        }
