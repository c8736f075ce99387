"""rsg_ant against Gymnasium's Ant-v5, step by step (EnvPool's align tests).

Both envs start every episode from the same state (Gymnasium's reset state copied into ours with
setState) and get the same actions. Both run the same libmujoco on the same ant.xml with the same
ctrl values, so the physics state must be bit-identical after every step; that is checked with
exact equality. Observations and rewards differ only by rounding: ours are float32 copies of the
float64 values Gymnasium returns, so they must agree to float32 precision (half an ulp is 6e-8
relative) -- we require rtol 1e-6 with atol 1e-7 for values near zero. The per-term reward info
crosses the boundary as float64 and must agree to rtol 1e-12 (only summation order may differ).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

gym = pytest.importorskip("gymnasium")

from raisimGymTorch.env.make import ENVS_DIR, load_cfg, make_vec_env  # noqa: E402

CFG_PATH = ENVS_DIR / "rsg_ant" / "cfg.yaml"
RTOL, ATOL = 1e-6, 1e-7
TERMS_RTOL, TERMS_ATOL = 1e-12, 1e-12
# Our reward term -> Gymnasium's info key.
TERM_KEYS = {"forward": "reward_forward", "healthy": "reward_survive", "ctrl_cost": "reward_ctrl",
             "contact_cost": "reward_contact"}


def make_ours(seed: int = 0, num_envs: int = 1, **environment: Any):
    cfg = load_cfg(CFG_PATH)
    cfg["environment"].update(environment)
    return make_vec_env("rsg_ant", cfg, str(CFG_PATH), num_envs=num_envs, num_threads=1, seed=seed,
                        normalize_ob=False)


def copy_state(theirs, ours) -> None:
    data = theirs.unwrapped.data
    ours.wrapper.setState(0, data.qpos.copy(), data.qvel.copy())


def run_both(steps: int, seed: int, action_bound: float = 1.0, gym_kwargs: dict | None = None,
             **environment: Any) -> dict[str, np.ndarray]:
    """Steps rsg_ant and Ant-v5 side by side; every episode starts from Gymnasium's reset state."""
    gym_kwargs = gym_kwargs or {}
    ours = make_ours(**environment)
    theirs = gym.make("Ant-v5", **gym_kwargs)
    rng = np.random.default_rng(seed)
    first_theirs, _ = theirs.reset(seed=seed)
    copy_state(theirs, ours)
    names = ours.reward_names
    record: dict[str, list] = {key: [] for key in (
        "ob", "ob_gym", "reward", "reward_gym", "done", "truncated", "terminated_gym", "truncated_gym",
        "terms", "terms_gym", "state_equal")}
    record["first_ob"] = ours.observe(update_statistics=False)[0].copy()
    record["first_ob_gym"] = first_theirs
    for _ in range(steps):
        action = rng.uniform(-action_bound, action_bound, size=(1, ours.num_acts)).astype(np.float32)
        ob_gym, reward_gym, terminated_gym, truncated_gym, info = theirs.step(action[0].astype(np.float64))
        reward, done = ours.step(action)
        truncated = ours.truncated
        terms = ours.get_reward_info()[0]
        if done[0]:
            ob = ours.final_observation()[0].copy()
            state_equal = True  # ours has already been reset; the observation carries the comparison
        else:
            ob = ours.observe(update_statistics=False)[0].copy()
            qpos, qvel = ours.wrapper.getState(0)
            data = theirs.unwrapped.data
            state_equal = np.array_equal(qpos, data.qpos) and np.array_equal(qvel, data.qvel)
        for key, value in (("ob", ob), ("ob_gym", ob_gym), ("reward", reward[0]), ("reward_gym", reward_gym),
                           ("done", done[0]), ("truncated", truncated[0]), ("terminated_gym", terminated_gym),
                           ("truncated_gym", truncated_gym), ("terms", [terms[name] for name in names]),
                           ("terms_gym", [info[TERM_KEYS[name]] for name in names]), ("state_equal", state_equal)):
            record[key].append(value)
        if done[0] or terminated_gym or truncated_gym:
            theirs.reset()
            copy_state(theirs, ours)
    ours.close()
    theirs.close()
    return {key: np.asarray(value) for key, value in record.items()}


def assert_parity(run: dict[str, np.ndarray]) -> None:
    mismatched = np.flatnonzero(~run["state_equal"])
    assert mismatched.size == 0, f"physics state differs from Gymnasium's first at step {mismatched[:1]}"
    np.testing.assert_allclose(run["first_ob"], run["first_ob_gym"], rtol=RTOL, atol=ATOL)
    np.testing.assert_array_equal(run["done"], run["terminated_gym"] | run["truncated_gym"])
    # A time-out on a failing step counts as failure for us (done & ~truncated), as for Gymnasium's
    # terminated flag, which takes precedence when bootstrapping.
    np.testing.assert_array_equal(run["truncated"], run["truncated_gym"] & ~run["terminated_gym"])
    np.testing.assert_allclose(run["ob"], run["ob_gym"], rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(run["reward"], run["reward_gym"], rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(run["terms"], run["terms_gym"], rtol=TERMS_RTOL, atol=TERMS_ATOL)


def max_differences(run: dict[str, np.ndarray]) -> str:
    return (f"max |diff|: observation {np.abs(run['ob'] - run['ob_gym']).max():.3g}, "
            f"reward {np.abs(run['reward'] - run['reward_gym']).max():.3g}, "
            f"reward terms {np.abs(run['terms'] - run['terms_gym']).max():.3g}")


@pytest.fixture(scope="module")
def default_run() -> dict[str, np.ndarray]:
    return run_both(steps=1000, seed=7)


def test_spaces_match_gymnasium():
    ours = make_ours()
    theirs = gym.make("Ant-v5")
    assert ours.num_obs == theirs.observation_space.shape[0] == 105
    assert ours.num_acts == theirs.action_space.shape[0] == 8
    assert ours.wrapper.getMaxEpisodeSteps() == theirs.spec.max_episode_steps == 1000
    assert ours.wrapper.getControlTimeStep() == pytest.approx(theirs.unwrapped.dt)
    assert ours.reward_names == list(TERM_KEYS)


def test_trajectory_matches_gymnasium(default_run):
    run = default_run
    # Random actions make the ant fall or leap within a few hundred steps: restarts are exercised.
    assert run["terminated_gym"].sum() >= 2
    print(max_differences(run))
    assert_parity(run)


def test_reward_terms_match_gymnasium_info(default_run):
    run = default_run
    np.testing.assert_allclose(run["terms"], run["terms_gym"], rtol=TERMS_RTOL, atol=TERMS_ATOL)
    # Weighted terms add up to the reward, and the healthy term is 0 exactly on failing steps.
    np.testing.assert_allclose(run["terms"].sum(axis=1), run["reward"], rtol=RTOL, atol=ATOL)
    healthy = run["terms"][:, list(TERM_KEYS).index("healthy")]
    np.testing.assert_array_equal(healthy == 0.0, run["terminated_gym"])


def test_time_limit_matches_gymnasium():
    run = run_both(steps=1001, seed=3, gym_kwargs={"terminate_when_unhealthy": False},
                   terminate_when_unhealthy=False)
    assert not run["terminated_gym"].any()
    assert np.flatnonzero(run["truncated_gym"]).tolist() == [999]
    assert_parity(run)


def test_options_and_out_of_range_actions_match_gymnasium():
    # Actions beyond +-1: MuJoCo clamps ctrl, the control cost uses the unclipped action.
    run = run_both(steps=300, seed=11, action_bound=1.5,
                   gym_kwargs={"healthy_z_range": (0.5, 1.0), "contact_force_range": (-0.5, 0.5),
                               "include_cfrc_ext_in_observation": False},
                   healthy_z_range=[0.5, 1.0], contact_force_range=[-0.5, 0.5], include_cfrc_ext_in_observation=False)
    assert run["ob"].shape[1] == 27
    assert run["terminated_gym"].sum() >= 2
    assert_parity(run)


def reset_states(ours, seed: int, resets: int) -> tuple[np.ndarray, np.ndarray]:
    ours.seed(seed)
    qpos, qvel = [], []
    for _ in range(resets):
        ours.reset()
        for i in range(ours.num_envs):
            q, v = ours.wrapper.getState(i)
            qpos.append(q)
            qvel.append(v)
    return np.array(qpos), np.array(qvel)


def test_reset_noise_matches_gymnasium_distribution():
    ours = make_ours(num_envs=200)
    qpos, qvel = reset_states(ours, seed=5, resets=5)
    theirs = gym.make("Ant-v5")
    gym_qpos, gym_qvel = [], []
    for episode in range(1000):
        theirs.reset(seed=episode)
        gym_qpos.append(theirs.unwrapped.data.qpos.copy())
        gym_qvel.append(theirs.unwrapped.data.qvel.copy())
    gym_qpos, gym_qvel = np.array(gym_qpos), np.array(gym_qvel)
    init_qpos = theirs.unwrapped.init_qpos

    qpos_noise = qpos - init_qpos
    assert np.abs(qpos_noise).max() <= 0.1
    # U(-0.1, 0.1): mean 0, std 0.2 / sqrt(12); N(0, 0.1^2): std 0.1, a third beyond one std.
    assert abs(qpos_noise.mean()) < 0.003 and abs(np.mean(gym_qpos - init_qpos)) < 0.003
    assert qpos_noise.std() == pytest.approx(0.2 / np.sqrt(12), rel=0.03)
    assert qpos_noise.std() == pytest.approx((gym_qpos - init_qpos).std(), rel=0.05)
    assert abs(qvel.mean()) < 0.005
    assert qvel.std() == pytest.approx(0.1, rel=0.03)
    assert qvel.std() == pytest.approx(gym_qvel.std(), rel=0.05)
    assert np.mean(np.abs(qvel) > 0.1) == pytest.approx(0.3173, abs=0.02)
    assert np.abs(qvel).max() > 0.3  # a normal's tail, not a bounded distribution


def test_reset_noise_is_seeded():
    ours = make_ours(num_envs=2)
    first_qpos, first_qvel = reset_states(ours, seed=1, resets=2)
    again_qpos, again_qvel = reset_states(ours, seed=1, resets=2)
    other_qpos, _ = reset_states(ours, seed=2, resets=2)
    np.testing.assert_array_equal(first_qpos, again_qpos)
    np.testing.assert_array_equal(first_qvel, again_qvel)
    assert not np.array_equal(first_qpos, other_qpos)
    assert not np.array_equal(first_qpos[0], first_qpos[1])  # env i is seeded with seed + i


@pytest.mark.parametrize("timing, message", [({"simulation_dt": 0.005, "control_dt": 0.05}, "simulation_dt"),
                                             ({"control_dt": 0.045}, "control_dt")])
def test_timing_other_than_the_model_is_an_error(timing, message):
    with pytest.raises(ValueError, match=message):
        make_ours(**timing)


def test_set_state_validates_its_arrays():
    ours = make_ours()
    qpos, qvel = ours.wrapper.getState(0)
    with pytest.raises(TypeError, match="qpos must have dtype float64"):
        ours.wrapper.setState(0, qpos.astype(np.float32), qvel)
    with pytest.raises(ValueError, match=r"qvel must have shape \(14,\)"):
        ours.wrapper.setState(0, qpos, qvel[:-1])
    bad = qpos.copy()
    bad[4] = np.nan
    with pytest.raises(ValueError, match="qpos contains NaN at index 4"):
        ours.wrapper.setState(0, bad, qvel)
    with pytest.raises(IndexError, match="env index 1"):
        ours.wrapper.setState(1, qpos, qvel)
    qpos[2] = 0.6
    ours.wrapper.setState(0, qpos, qvel)
    np.testing.assert_array_equal(ours.wrapper.getState(0)[0], qpos)
