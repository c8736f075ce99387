"""Data-parallel training across processes and machines with torch.distributed, as launched by torchrun.

Every rank owns a VecEnv with its share of the cfg's ``num_envs`` and a copy of the networks. Per iteration the
ranks exchange: the observation statistics (merged exactly, see `merge_statistics`), one all-reduce per PPO
minibatch (gradients, KL and the non-finite flag), and the rollout sums for logging together with the stop flag.
Rank 0 alone writes files and evaluates while the others wait for it.

Every collective that fails, because a rank died (its sockets close at once) or hung past the timeout, raises a
`DistributedError` that says so, so that no rank waits forever.
"""
from __future__ import annotations

import contextlib
import datetime
import hashlib
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from raisimGymTorch.env.RaisimGymVecEnv import RaisimGymVecEnv

from .rollout_statistics import RolloutSums

TIMEOUT_VARIABLE = "RSG_DIST_TIMEOUT"
"""Environment variable: seconds a collective may wait for the other ranks (``--dist-timeout`` overrides it)."""
BACKEND_VARIABLE = "RSG_DIST_BACKEND"
"""Environment variable: ``gloo`` (CPU, the default) or ``nccl`` (``--dist-backend`` overrides it)."""
DEFAULT_TIMEOUT_SECONDS = 60.0
WAIT_FOR_RANK0_FACTOR = 10
"""Ranks wait this many timeouts for rank 0's checkpoint, export, evaluation and video (10 minutes by default)."""

Statistics = tuple[np.ndarray, np.ndarray, float]
"""Observation statistics (mean [critic_obs_dim], population variance [critic_obs_dim], count), float64 as
`RaisimGymVecEnv` gives them: the ranks merge them every iteration, and any narrower hop would round the merged
result each time."""


class DistributedError(RuntimeError):
    """Another rank died or did not answer in time, or the ranks disagree (e.g. their cfg.yaml files differ)."""


@dataclass(frozen=True)
class LaunchInfo:
    """Where this process sits, as torchrun describes it in environment variables."""

    rank: int
    """RANK: this process among all processes, 0 .. world_size - 1."""
    world_size: int
    """WORLD_SIZE: processes in the run, on all machines."""
    local_rank: int
    """LOCAL_RANK: this process among those on its machine."""
    local_world_size: int
    """LOCAL_WORLD_SIZE: processes on this machine; they share its cores."""

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> LaunchInfo | None:
        """Reads torchrun's variables; None if WORLD_SIZE is unset or 1 (a plain single-process run).

        Raises:
            ValueError: WORLD_SIZE is set but another variable is missing or not a valid integer.
        """
        environ = os.environ if environ is None else environ
        if int(environ.get("WORLD_SIZE", "1") or "1") <= 1:
            return None
        values = {}
        for name, default in (("RANK", None), ("WORLD_SIZE", None), ("LOCAL_RANK", "0"), ("LOCAL_WORLD_SIZE", None)):
            text = environ.get(name, default)
            if name == "LOCAL_WORLD_SIZE" and text is None:
                text = environ["WORLD_SIZE"]  # launched by hand on one machine
            if text is None:
                raise ValueError(f"WORLD_SIZE is {environ['WORLD_SIZE']} but {name} is not set; launch with torchrun, "
                                 "or set RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT yourself")
            try:
                values[name] = int(text)
            except ValueError:
                raise ValueError(f"environment variable {name} must be an integer, got {text!r}") from None
        info = cls(values["RANK"], values["WORLD_SIZE"], values["LOCAL_RANK"], values["LOCAL_WORLD_SIZE"])
        if not (0 <= info.rank < info.world_size and 0 <= info.local_rank < info.local_world_size):
            raise ValueError(f"inconsistent torchrun variables: {info}")
        return info


def split_envs(total: int, world_size: int, rank: int) -> tuple[int, int]:
    """This rank's share of `total` environments: ``(count, offset)``.

    The cfg's ``num_envs`` is the total over all ranks, so a run on K processes steps as many environments as
    one process would. Rank r gets ``total // K`` envs, one more if ``r < total % K``; its envs are numbers
    ``offset .. offset + count - 1`` of the total, and env i is seeded with ``seed + i`` as in a single process,
    so the ranks' seeds never collide and together are a single-process run's seeds.

    Raises:
        ValueError: Fewer environments than ranks.
    """
    if total < world_size:
        raise ValueError(f"environment.num_envs is the total over all ranks and must be at least the number of "
                         f"ranks; got num_envs {total} for {world_size} ranks")
    base, extra = divmod(total, world_size)
    return base + (rank < extra), rank * base + min(rank, extra)


def threads_per_rank(local_world_size: int, cores: int | None = None) -> int:
    """``max(1, cores // local_world_size)``: the ranks on a machine split its cores evenly.

    Args:
        local_world_size: Ranks on this machine.
        cores: Cores usable by this process; defaults to its CPU affinity.
    """
    if cores is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores // max(1, local_world_size))


def merge_statistics(base: Statistics, updated: Sequence[Statistics]) -> Statistics:
    """The statistics of the union of all ranks' data, when every rank started from the same `base`.

    Each rank folded its own observations into a copy of `base`, so each ``updated[k]`` describes
    ``base data + rank k's data``; Chan-merging them would count the base data K times. The union is built
    from sums about the base mean m0 instead, with n_k, m_k, v_k the ranks' statistics:

        N = n0 + sum_k (n_k - n0)
        sum over the union of (x - m0)   = sum_k n_k (m_k - m0)
        sum over the union of (x - m0)^2 = sum_k n_k (v_k + (m_k - m0)^2) - (K - 1) n0 v0

    Args:
        base: Statistics every rank held at the start of the iteration.
        updated: Every rank's statistics now, in any order.

    Returns:
        (mean, population variance, count) of base data plus every rank's new data, float64.
    """
    m0, v0 = np.asarray(base[0], np.float64), np.asarray(base[1], np.float64)
    n0 = float(base[2])
    count = n0 + sum(float(n) - n0 for _, _, n in updated)
    if count <= 0.0:
        return m0.copy(), v0.copy(), n0
    first = np.zeros_like(m0)
    second = -(len(updated) - 1) * n0 * v0
    for mean, var, n in updated:
        shift = np.asarray(mean, np.float64) - m0
        first += float(n) * shift
        second += float(n) * (np.asarray(var, np.float64) + shift * shift)
    offset = first / count
    return m0 + offset, np.maximum(second / count - offset * offset, 0.0), count


class Distributed:
    """One rank's membership in the process group, and the collectives training needs.

    Build it with `Distributed.initialize` (or `from_environment` under torchrun) and `close` it at the end.
    `PPO` uses `average_gradients` and `broadcast_parameters`; the trainer uses the rest.
    """

    def __init__(self, info: LaunchInfo, timeout: float, backend: str, wait_group: Any, object_group: Any) -> None:
        self.info = info
        self.timeout = timeout
        self.backend = backend
        self.threads = threads_per_rank(info.local_world_size)
        """Threads of this rank: the env's OpenMP threads (unless the cfg sets a number) and torch's."""
        self.weight = 1.0 / info.world_size
        """This rank's share of all transitions; set by `assign_envs`."""
        self._wait_group = wait_group
        self._object_group = object_group
        self._device = torch.device(f"cuda:{info.local_rank}") if backend == "nccl" else torch.device("cpu")

    @classmethod
    def initialize(cls, info: LaunchInfo, timeout: float = DEFAULT_TIMEOUT_SECONDS, backend: str = "gloo"
                   ) -> Distributed:
        """Joins the process group (MASTER_ADDR and MASTER_PORT name rank 0's rendezvous, as torchrun sets them).

        Args:
            info: This process's place in the run.
            timeout: Seconds any collective, and the rendezvous, waits for the other ranks.
            backend: ``gloo`` (CPU) or ``nccl`` (needs CUDA; the gradients travel through GPU ``LOCAL_RANK``).

        Raises:
            ValueError: An unknown backend, nccl without CUDA, or a timeout that is not positive.
            DistributedError: The other ranks did not join within the timeout.
        """
        if backend not in ("gloo", "nccl"):
            raise ValueError(f"distributed backend must be 'gloo' or 'nccl', got {backend!r}")
        if backend == "nccl" and not torch.cuda.is_available():
            raise ValueError("distributed backend 'nccl' needs CUDA, which this torch cannot use; use 'gloo'")
        if not timeout > 0:
            raise ValueError(f"distributed timeout must be positive seconds, got {timeout!r}")
        if backend == "nccl":
            torch.cuda.set_device(info.local_rank)
        started = time.perf_counter()
        try:
            dist.init_process_group(backend, timeout=datetime.timedelta(seconds=timeout), rank=info.rank,
                                    world_size=info.world_size)
            # Rank 0's checkpoints and evaluations may outlast the timeout; the others wait for them on a
            # group of their own with a longer one. Objects (pickled) always travel on CPU through gloo.
            wait_group = dist.new_group(backend="gloo",
                                        timeout=datetime.timedelta(seconds=timeout * WAIT_FOR_RANK0_FACTOR))
            object_group = None if backend == "gloo" else dist.new_group(
                backend="gloo", timeout=datetime.timedelta(seconds=timeout))
        except (RuntimeError, ValueError) as error:
            if dist.is_initialized():
                dist.destroy_process_group()
            raise DistributedError(
                f"rank {info.rank} of {info.world_size}: joining the process group failed after "
                f"{time.perf_counter() - started:.0f} s (MASTER_ADDR={os.environ.get('MASTER_ADDR')}, "
                f"MASTER_PORT={os.environ.get('MASTER_PORT')}): {_first_line(error)}") from error
        return cls(info, timeout, backend, wait_group, object_group)

    @classmethod
    def from_environment(cls, timeout: float | None = None, backend: str | None = None,
                         environ: Mapping[str, str] | None = None) -> Distributed | SingleProcess:
        """Joins the process group if torchrun started this process with more than one rank; else a `SingleProcess`.

        Args:
            timeout: Seconds; default the RSG_DIST_TIMEOUT variable, else 60.
            backend: Default the RSG_DIST_BACKEND variable, else gloo.
            environ: Variables to read instead of os.environ.

        Raises:
            ValueError: Inconsistent torchrun variables, or a bad timeout or backend.
            DistributedError: The other ranks did not join in time.
        """
        environ = os.environ if environ is None else environ
        info = LaunchInfo.from_environment(environ)
        if info is None:
            return SingleProcess()
        if timeout is None:
            text = environ.get(TIMEOUT_VARIABLE, str(DEFAULT_TIMEOUT_SECONDS))
            try:
                timeout = float(text)
            except ValueError:
                raise ValueError(f"{TIMEOUT_VARIABLE} must be seconds, got {text!r}") from None
        return cls.initialize(info, timeout, backend or environ.get(BACKEND_VARIABLE, "gloo"))

    @property
    def rank(self) -> int:
        return self.info.rank

    @property
    def world_size(self) -> int:
        return self.info.world_size

    @property
    def is_main(self) -> bool:
        """Rank 0, the one that writes files and evaluates."""
        return self.info.rank == 0

    @property
    def data_parallel(self) -> Distributed:
        """What PPO averages gradients and broadcasts parameters with: this group."""
        return self

    def close(self) -> None:
        """Leaves the process group."""
        if dist.is_initialized():
            dist.destroy_process_group()

    def assign_envs(self, total: Any, source: str = "the cfg") -> tuple[int, int]:
        """This rank's ``(count, offset)`` of `total` environments (see `split_envs`); sets `weight` to its share.

        Raises:
            ValueError: `total` (``environment.num_envs`` of `source`, or its override) is not an integer.
        """
        if isinstance(total, bool) or not isinstance(total, int):
            raise ValueError(f"{source}: environment.num_envs must be an integer, got {total!r}")
        count, offset = split_envs(total, self.world_size, self.rank)
        self.weight = count / total
        return count, offset

    # --- what PPO needs ----------------------------------------------------------------------------------

    def average_gradients(self, parameters: Sequence[torch.Tensor], extras: torch.Tensor) -> torch.Tensor:
        """Replaces each gradient by the mean over ranks weighted by their share of the data; same for `extras`.

        One all-reduce carries both. Every rank receives the same bits, so identical parameters and optimizer
        states stay identical after the step.

        Args:
            parameters: Tensors whose ``.grad`` is set (a missing gradient counts as zero).
            extras: [E] per-rank scalars to average alongside, e.g. the KL.

        Returns:
            [E] weighted means of `extras`.
        """
        gradients = [p.grad.reshape(-1) if p.grad is not None else torch.zeros(p.numel(), dtype=p.dtype)
                     for p in parameters]
        flat = torch.cat([*gradients, extras.to(gradients[0].dtype).reshape(-1)]) * self.weight
        flat = self._all_reduce(flat, "averaging gradients")
        *chunks, reduced_extras = flat.split([*(p.numel() for p in parameters), extras.numel()])
        for parameter, chunk in zip(parameters, chunks):
            parameter.grad = chunk.view_as(parameter).clone()
        return reduced_extras.to(extras.dtype)

    def broadcast_parameters(self, parameters: Sequence[torch.Tensor]) -> None:
        """Overwrites `parameters` with rank 0's values."""
        with torch.no_grad():
            flat = torch.cat([p.detach().reshape(-1) for p in parameters]).to(self._device)
            with self._collective("broadcasting rank 0's parameters"):
                dist.broadcast(flat, src=0)
            for parameter, chunk in zip(parameters, flat.cpu().split([p.numel() for p in parameters])):
                parameter.copy_(chunk.view_as(parameter))

    # --- what the trainer needs --------------------------------------------------------------------------

    def broadcast_object(self, value: Any, what: str) -> Any:
        """Rank 0's `value` (picklable), on every rank."""
        holder = [value if self.is_main else None]
        with self._collective(what):
            dist.broadcast_object_list(holder, src=0, group=self._object_group)
        return holder[0]

    def check_same(self, text: str, what: str) -> None:
        """Raises unless `text` (e.g. the cfg.yaml) is the same on every rank.

        Raises:
            DistributedError: It differs; the message names the ranks whose copy differs from rank 0's.
        """
        digest = hashlib.sha256(text.encode()).hexdigest()
        digests: list[Any] = [None] * self.world_size
        with self._collective(f"comparing {what}"):
            dist.all_gather_object(digests, digest, group=self._object_group)
        different = [rank for rank, other in enumerate(digests) if other != digests[0]]
        if different:
            raise DistributedError(f"{what} differs between rank 0 and rank(s) {different}: every machine needs the "
                                   "same code, build and cfg")

    def broadcast_statistics(self, env: RaisimGymVecEnv) -> Statistics:
        """Sets rank 0's observation statistics on every rank's env and returns them as the env now holds them."""
        mean, var, count = env.get_statistics()
        flat = torch.from_numpy(np.concatenate([[count], mean, var]).astype(np.float64)).to(self._device)
        with self._collective("broadcasting the observation statistics"):
            dist.broadcast(flat, src=0)
        values = flat.cpu().numpy()
        dim = env.num_critic_obs
        env.set_statistics(values[1:1 + dim], values[1 + dim:], float(values[0]))
        return env.get_statistics()

    def merge_statistics(self, env: RaisimGymVecEnv, base: Statistics) -> Statistics:
        """Merges every rank's new observations into `base` (see `merge_statistics`) and sets the result on `env`.

        Args:
            env: This rank's training env; it holds `base` plus this rank's observations since.
            base: The statistics all ranks held at the start of the iteration.

        Returns:
            The merged statistics as the env now holds them (float64, bit for bit what the merge computed),
            the next iteration's `base`.
        """
        mean, var, count = env.get_statistics()
        local = torch.from_numpy(np.concatenate([[count], mean, var]).astype(np.float64)).to(self._device)
        gathered = [torch.empty_like(local) for _ in range(self.world_size)]
        with self._collective("merging the observation statistics"):
            dist.all_gather(gathered, local)
        dim = env.num_critic_obs
        rows = [row.cpu().numpy() for row in gathered]
        merged_mean, merged_var, merged_count = merge_statistics(
            base, [(row[1:1 + dim], row[1 + dim:], float(row[0])) for row in rows])
        env.set_statistics(merged_mean, merged_var, merged_count)
        return env.get_statistics()

    def merge_rollouts(self, rollout: RolloutSums) -> RolloutSums:
        """The rollout sums of all ranks, for rank 0's log."""
        everyone: list[Any] = [None] * self.world_size
        with self._collective("gathering the rollout statistics"):
            dist.all_gather_object(everyone, rollout, group=self._object_group)
        return RolloutSums.merged(everyone)

    def agree_to_stop(self, requested: bool) -> bool:
        """Whether any rank was asked to stop. A signal reaches the ranks at slightly different times; stopping
        only when all agree, at the same iteration, keeps their collectives in step."""
        return bool(self._all_reduce(torch.tensor([float(requested)]), "agreeing whether to stop").item() > 0.0)

    def wait_for_rank0(self, what: str) -> None:
        """Blocks every rank until all arrive; rank 0 arrives after `what`. Waits WAIT_FOR_RANK0_FACTOR timeouts."""
        waiting = f"waiting for rank 0 to finish {what}" if self.rank else f"waiting for the other ranks after {what}"
        with self._collective(waiting, self.timeout * WAIT_FOR_RANK0_FACTOR):
            dist.barrier(group=self._wait_group)

    # --- plumbing -----------------------------------------------------------------------------------------

    def _all_reduce(self, tensor: torch.Tensor, what: str) -> torch.Tensor:
        """Sum over ranks of `tensor`, returned on the CPU."""
        on_device = tensor.to(self._device)
        with self._collective(what):
            dist.all_reduce(on_device)
        return on_device.cpu()

    @contextlib.contextmanager
    def _collective(self, what: str, timeout: float | None = None) -> Iterator[None]:
        """Turns a failed collective into a DistributedError that says what happened and how to react."""
        started = time.perf_counter()
        try:
            yield
        except RuntimeError as error:  # torch's DistBackendError derives from it
            timeout = self.timeout if timeout is None else timeout
            cause = _first_line(error)
            if any(sign in cause for sign in ("Connection closed", "Connection reset", "Broken pipe")):
                reason = "another rank's process ended (it died, was killed or raised an error)"
            elif "Timed out" in cause or "timeout" in cause.lower():
                reason = f"another rank did not answer within {timeout:g} s (--dist-timeout or {TIMEOUT_VARIABLE})"
            else:
                reason = (f"another rank died or did not answer within {timeout:g} s (--dist-timeout or "
                          f"{TIMEOUT_VARIABLE})")
            raise DistributedError(
                f"rank {self.rank} of {self.world_size}: {what} failed after {time.perf_counter() - started:.1f} s: "
                f"{reason}; see that rank's output. The last checkpoint is intact: resume with -m retrain -w "
                f"full_<N>.pt. [{cause}]") from error


class SingleProcess:
    """The trivial process group of a run on one process: `Distributed`'s interface, where every exchange is the
    identity and this process is rank 0. The trainer runs the same code on one process as on many."""

    rank = 0
    world_size = 1
    is_main = True
    backend = "none"
    threads = None
    """None: the cfg's ``num_threads`` and torch's own setting decide, as they do without torchrun."""
    data_parallel = None
    """PPO has nothing to average with a single process."""

    def close(self) -> None:
        """Nothing to leave."""

    def assign_envs(self, total: Any, source: str = "the cfg") -> tuple[Any, int]:
        """All of `total`, from env 0; the env checks the value itself."""
        return total, 0

    def broadcast_object(self, value: Any, what: str) -> Any:
        return value

    def check_same(self, text: str, what: str) -> None:
        """One copy is always the same as itself."""

    def broadcast_statistics(self, env: RaisimGymVecEnv) -> Statistics:
        return env.get_statistics()

    def merge_statistics(self, env: RaisimGymVecEnv, base: Statistics) -> Statistics:
        return env.get_statistics()

    def merge_rollouts(self, rollout: RolloutSums) -> RolloutSums:
        return rollout

    def agree_to_stop(self, requested: bool) -> bool:
        return bool(requested)

    def wait_for_rank0(self, what: str) -> None:
        """Rank 0 is this process: nothing to wait for."""


ProcessGroup = Distributed | SingleProcess
"""One rank's view of the run, whether it has one process or many."""


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
