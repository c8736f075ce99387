"""Tests of raisimGymTorch.algo.ppo.gradient_workers: a minibatch's gradients computed in halves on two threads."""

import pytest
import torch

from raisimGymTorch.algo.ppo import Actor, Critic, Minibatch
from raisimGymTorch.algo.ppo.gradient_workers import GradientWorkers


@pytest.fixture
def two_torch_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def networks_and_batch(rows=1001):
    torch.manual_seed(0)
    actor, critic = Actor(5, 3, [32, 32]), Critic(5, [32, 32])
    generator = torch.Generator().manual_seed(1)

    def randn(*shape):
        return torch.randn(*shape, generator=generator)

    batch = Minibatch(observations=randn(rows, 5), actions=randn(rows, 3), log_probs=randn(rows),
                      action_means=randn(rows, 3), values=randn(rows), returns=randn(rows), advantages=randn(rows))
    return actor, critic, batch


def losses_of(actor, critic):
    def losses(batch, old_std):
        distribution = actor.distribution(batch.observations)
        log_probs = distribution.log_prob(batch.actions).sum(-1)
        value = (critic(batch.observations) - batch.returns).pow(2).mean()
        surrogate = -(torch.exp(log_probs - batch.log_probs) * batch.advantages).mean()
        entropy = distribution.entropy().sum(-1).mean()
        kl = (distribution.mean.detach() - batch.action_means).pow(2).sum(-1).mean() / old_std.pow(2).mean()
        return surrogate + value - 0.01 * entropy, surrogate.detach(), value.detach(), entropy.detach(), kl
    return losses


def test_halves_on_two_threads_give_the_whole_minibatchs_gradient_and_losses(two_torch_threads):
    actor, critic, batch = networks_and_batch()
    parameters = [*actor.parameters(), *critic.parameters()]
    loss, surrogate, value, entropy, kl = losses_of(actor, critic)(batch, actor.std.detach())
    expected = torch.autograd.grad(loss, parameters)

    with GradientWorkers(torch.device("cpu")) as workers:
        assert workers.parts == 2
        losses = workers.gradients(losses_of(actor, critic), batch, actor.std.detach(), parameters)
    for parameter, gradient in zip(parameters, expected):
        torch.testing.assert_close(parameter.grad, gradient, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(torch.tensor([losses.loss, losses.surrogate, losses.value, losses.entropy, losses.kl]),
                               torch.stack([loss, surrogate, value, entropy, kl]).detach())
    assert torch.get_num_threads() == 2  # restored after the workers set their own share


def test_the_same_minibatch_gives_bit_identical_gradients_every_time(two_torch_threads):
    actor, critic, batch = networks_and_batch()
    parameters = [*actor.parameters(), *critic.parameters()]
    runs = []
    for _ in range(3):
        with GradientWorkers(torch.device("cpu")) as workers:
            workers.gradients(losses_of(actor, critic), batch, actor.std.detach(), parameters)
        runs.append([parameter.grad.clone() for parameter in parameters])
    assert all(torch.equal(a, b) for run in runs[1:] for a, b in zip(runs[0], run))


def test_one_thread_computes_the_minibatch_whole():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with GradientWorkers(torch.device("cpu")) as workers:
            assert workers.parts == 1
    finally:
        torch.set_num_threads(before)


def test_a_non_finite_half_leaves_no_gradient(two_torch_threads):
    actor, critic, batch = networks_and_batch()
    batch.returns[-1] = float("nan")  # in the second half only
    parameters = [*actor.parameters(), *critic.parameters()]
    with GradientWorkers(torch.device("cpu")) as workers:
        losses = workers.gradients(losses_of(actor, critic), batch, actor.std.detach(), parameters)
    assert not losses.finite
    assert all(parameter.grad is None for parameter in parameters)
