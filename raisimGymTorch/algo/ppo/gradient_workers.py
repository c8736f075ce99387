"""A minibatch's gradients computed in two halves at once on the CPU.

At the sizes PPO trains here (thousands of rows, layers of 128-512 units), torch's per-operation threads keep
little of a second core: on a 2-core machine one forward and backward pass of rsg_anymal's networks over a
10,000-row minibatch took 47-51 ms on 2 threads and 60-68 ms on one, while two 5,000-row halves on one thread
each, at once, took 36-42 ms. The halves are fixed row ranges whose gradients are added in order, so an update
is as deterministic as before; it differs in rounding from the unsplit one.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import torch

from .storage import Minibatch

LossesOf = Callable[[Minibatch, torch.Tensor], tuple[torch.Tensor, ...]]
"""(minibatch, old std) -> (total loss with its graph, surrogate, value, entropy, kl), each a scalar tensor."""


@dataclass(frozen=True)
class MinibatchLosses:
    """One minibatch's losses and KL, means over its rows."""

    loss: float
    surrogate: float
    value: float
    entropy: float
    kl: float

    @property
    def finite(self) -> bool:
        return math.isfinite(self.loss)


class GradientWorkers:
    """Writes the gradient of a minibatch's loss into the parameters' ``.grad`` (None where the loss is not finite).

    On the CPU with two or more torch threads, the minibatch is split in two halves, each computed on its own
    thread with half of torch's threads; elsewhere (one thread, a GPU) it is computed whole. Use as a context
    manager around one update: it starts the threads and restores torch's thread count afterwards.
    """

    PARTS = 2

    def __init__(self, device: torch.device) -> None:
        self._threads = torch.get_num_threads()
        self.parts = self.PARTS if device.type == "cpu" and self._threads >= self.PARTS else 1
        self._pool: ThreadPoolExecutor | None = None

    def __enter__(self) -> GradientWorkers:
        if self.parts > 1:  # each worker with its share of torch's threads
            self._pool = ThreadPoolExecutor(self.parts, thread_name_prefix="rsg-gradients",
                                            initializer=torch.set_num_threads,
                                            initargs=(max(1, self._threads // self.parts),))
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None
            # The workers set the thread count for themselves, which also changed torch's global one.
            torch.set_num_threads(self._threads)

    def gradients(self, losses_of: LossesOf, batch: Minibatch, old_std: torch.Tensor,
                  parameters: Sequence[torch.Tensor]) -> MinibatchLosses:
        """Sets each parameter's ``.grad`` to d loss / d parameter for `batch` and returns its losses."""
        rows = batch.observations.shape[0]
        if self._pool is None or rows < self.parts:
            results = [self._part(losses_of, batch, 1.0, old_std, parameters)]
        else:
            halves = [Minibatch(*fields) for fields in zip(*(field.tensor_split(self.parts) for field in batch))]
            results = list(self._pool.map(
                lambda half: self._part(losses_of, half, half.observations.shape[0] / rows, old_std, parameters),
                halves))
        # Row-weighted means of the halves' means are the minibatch's means.
        # (A non-finite half makes the sum non-finite, so `finite` covers the halves without gradients.)
        losses = MinibatchLosses(*(sum(weight * values[i] for weight, values, _ in results) for i in range(5)))
        for i, parameter in enumerate(parameters):
            parameter.grad = (sum((grads[i] for _, _, grads in results[1:]), results[0][2][i]) if losses.finite
                              else None)
        return losses

    def _part(self, losses_of: LossesOf, batch: Minibatch, weight: float, old_std: torch.Tensor,
              parameters: Sequence[torch.Tensor]) -> tuple[float, list[float], tuple[torch.Tensor, ...] | None]:
        loss, *parts = losses_of(batch, old_std)
        values = [float(loss.detach()), *(float(part) for part in parts)]
        grads = torch.autograd.grad(loss * weight, parameters) if math.isfinite(values[0]) else None
        return weight, values, grads
