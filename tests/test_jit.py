"""The compiled hot path (numba) against the numpy reference and Gymnasium, and its fallback.

Every kernel must give the numpy loop's batch bit for bit (actions compared on alive steps: the
padding differs by design), its transitions must be Gymnasium's own, and a missing, broken or
switched-off numba must fall back to numpy with the same results and at most a one-line notice."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest

from pgrad import jit
from pgrad.algorithms.reinforce import ReinforceConfig, train
from pgrad.envs import CARTPOLE, MOUNTAIN_CAR
from pgrad.policies import LogisticPolicy, SoftmaxLinearPolicy
from pgrad.rollout import Workspace, compiled, rollout, threads
from pgrad.rollout.compiled import alive_part

FIELDS = ("obs", "act", "rew", "terminated", "truncated", "alive", "lengths")
numba = pytest.importorskip("numba")


def _both(policy, theta, seed, num_episodes, dynamics=CARTPOLE, **kwargs):
    rngs = lambda: [np.random.default_rng([seed, j]) for j in range(len(theta))]  # noqa: E731
    return [rollout(dynamics, policy, theta, rngs(), num_episodes, workspace=Workspace(), compiled=c,
                    **kwargs) for c in (True, False)]


def _assert_same(a, b, compacted=False):
    for field in FIELDS:
        x, y = alive_part(a, field), alive_part(b, field)
        if compacted and field == "obs":  # the compacted numpy loop leaves padding unwritten
            x, y = x[a.alive], y[b.alive]
        assert x.shape == y.shape and x.tobytes() == y.tobytes(), field


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("greedy", [False, True])
@pytest.mark.parametrize("scale", [0.0, 1.0, 30.0])
def test_cartpole_kernel_equals_numpy_loop(eager, bias, greedy, scale):
    policy = LogisticPolicy(bias=bias)
    theta = scale * np.random.default_rng(7).normal(size=(4, policy.dim))
    a, b = _both(policy, theta, 11, 25, greedy=greedy)
    _assert_same(a, b)
    assert compiled.kernel_for(CARTPOLE, policy, np.dtype(np.float64)) == "cartpole_logistic"


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("greedy", [False, True])
def test_mountain_car_kernel_equals_numpy_loop(eager, bias, greedy):
    policy = SoftmaxLinearPolicy(2, 3, bias=bias)
    theta = np.random.default_rng(5).normal(size=(3, policy.dim)) * 30.0
    pump = np.zeros((1, policy.dim))  # push along the velocity: reaches the goal
    pump[0, 3], pump[0, 5] = -1000.0, 1000.0
    for th in (theta, np.concatenate([pump, theta[:1]])):
        a, b = _both(policy, th, 3, 12, dynamics=MOUNTAIN_CAR, greedy=greedy)
        _assert_same(a, b)
    assert a.terminated.any() and a.lengths.min() < 200
    assert compiled.kernel_for(MOUNTAIN_CAR, policy, np.dtype(np.float64)) == "mountain_car_softmax"


def test_kernel_equals_numpy_loop_where_numpy_compacts_and_truncates(eager, monkeypatch):
    from pgrad.rollout import episodes

    monkeypatch.setattr(episodes, "COMPACT_MIN", 64)  # the numpy loop compacts; the kernel never does
    theta = np.random.default_rng(3).normal(size=(3, 4)) * np.array([1.0, 3.0, 20.0, 5.0])
    _assert_same(*_both(LogisticPolicy(), theta, 5, 40), compacted=True)
    _assert_same(*_both(LogisticPolicy(), theta, 5, 40, max_steps=30), compacted=True)


def test_compiled_transitions_are_gymnasiums(eager):
    """Replay the compiled rollout's actions in Gymnasium's CartPoleEnv from the same start state."""
    theta = np.array([[0.3, 2.0, 25.0, 4.0]])
    batch = rollout(CARTPOLE, LogisticPolicy(), theta, [np.random.default_rng(0)], 6, compiled=True)
    env = gym.make("CartPole-v1").unwrapped
    env.reset(seed=0)
    for k in range(6):
        env.state = batch.obs[0, 0, k].copy()
        env.steps_beyond_terminated = None
        for t in range(int(batch.lengths[0, k])):
            assert np.array_equal(env.state, batch.obs[t, 0, k]), (k, t)
            _, rew, terminated, _, _ = env.step(int(batch.act[t, 0, k]))
            assert rew == batch.rew[t, 0, k] and terminated == batch.terminated[t, 0, k]


def test_compiled_transition_equals_numpy_step_on_random_states(eager):
    from pgrad.envs import cartpole

    transition = jit.njit(cartpole.transition)
    rng = np.random.default_rng(1)
    state = rng.normal(size=(4, 2000)) * np.array([[1.0], [3.0], [0.5], [4.0]]) ** rng.integers(1, 4, (4, 1))
    action = rng.integers(0, 2, 2000)
    expected, _, terminated = CARTPOLE.step(state, action)
    for i in range(2000):
        *got, term = transition(*state[:, i], 10.0 if action[i] == 1 else -10.0)
        assert np.array_equal(np.array(got), expected[:, i]) and term == terminated[i], i


def test_the_kernels_tanh_lies_well_inside_the_band_of_numpys(eager):
    half_tanh = jit.njit(compiled.half_tanh)
    rng = np.random.default_rng(2)
    z = np.concatenate([rng.normal(size=20_000) * s for s in (1e-9, 1e-3, 0.3, 1.0, 5.0, 30.0, 100.0)]
                       + [rng.uniform(0.24, 0.6, 20_000),
                          np.array([0.0, -0.0, 0.25, -0.25, 40.0, -41.0, np.inf])])
    y = np.array([half_tanh(v) for v in z])
    expected = np.tanh(0.5 * z)
    assert (np.abs(y - expected) <= compiled.TANH_BAND / 256 * np.abs(expected)).all()
    assert np.isnan(half_tanh(np.nan))


def test_undecided_actions_run_the_numpy_loop(eager, monkeypatch):
    monkeypatch.setattr(compiled, "TANH_BAND", 1e300)  # every action too close to call
    monkeypatch.setattr(compiled, "_kernels", {})
    monkeypatch.setattr(compiled, "_checked", set())
    numba.core.registry.cpu_target.target_context.refresh()
    kernel = compiled._build_cartpole_logistic()
    policy, theta = LogisticPolicy(), np.full((1, 4), 0.5)
    bufs = [np.zeros(s, d) for s, d in (((500, 4, 8), float), ((500, 8), np.int8), ((500, 8), float),
                                        ((500, 8), bool), ((500, 8), bool))]
    noise = np.zeros((500, 8))
    undecided = kernel.py_func(np.ones((8, 4)), False, np.zeros((4, 8)), noise, *bufs,
                               np.ones(8, bool), 0, 8, 0, 500)
    assert undecided == compiled.UNDECIDED
    a, b = _both(policy, theta, 2, 8)
    _assert_same(a, b)


def test_training_is_the_same_compiled_or_not(eager, monkeypatch):
    from pgrad.rollout import episodes

    config = ReinforceConfig(max_episodes=600)
    fast = train(config, [4, 9])
    monkeypatch.setattr(episodes, "compiled_kernel", lambda *args: None)
    slow = train(config, [4, 9])
    np.testing.assert_array_equal(fast.theta, slow.theta)
    for x, y in zip(fast.episodes, slow.episodes, strict=True):
        for key in ("return", "length", "update"):
            np.testing.assert_array_equal(x[key], y[key])


def test_auto_mode_loads_only_once_the_work_repays_it(monkeypatch):
    monkeypatch.delenv(jit.MODE_VAR, raising=False)
    monkeypatch.delenv(jit.ENV_VAR, raising=False)
    jit.reset()
    try:
        assert not jit.wants(1000) and jit.wants(jit.AUTO_WORK)
        monkeypatch.setenv(jit.ENV_VAR, "1")
        assert not jit.wants(jit.AUTO_WORK)
    finally:
        jit.reset()


def _run(code: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PGRAD_JIT": "1", **env})


TRAIN = ("from pgrad.algorithms.reinforce import ReinforceConfig, train; from pgrad import jit; "
         "r = train(ReinforceConfig(max_episodes=300), [1]); print(r.theta.tobytes().hex(), jit.available())")


def test_no_jit_env_var_and_a_broken_numba_fall_back_with_one_line():
    on = _run(TRAIN)
    off = _run(TRAIN, PGRAD_NO_JIT="1")
    assert on.returncode == off.returncode == 0, (on.stderr, off.stderr)
    assert on.stdout.split()[0] == off.stdout.split()[0]  # the same theta, to the bit
    assert on.stdout.split()[1] == "True" and off.stdout.split()[1] == "False" and off.stderr == ""
    broken = _run("import sys; sys.modules['numba'] = None\n" + TRAIN.replace("; ", "\n"))
    assert broken.returncode == 0, broken.stderr
    assert broken.stdout.split()[0] == on.stdout.split()[0]
    lines = broken.stderr.strip().splitlines()
    assert len(lines) == 1 and "compiled hot path off" in lines[0] and "numba does not import" in lines[0]


def test_a_kernel_that_disagrees_is_turned_off_alone(eager, monkeypatch, caplog):
    monkeypatch.setattr(compiled, "_checked", set())
    monkeypatch.setattr(compiled, "_broken", {})
    real = compiled._kernels.get("cartpole_logistic") or compiled.kernel("cartpole_logistic", 0)

    def wrong(theta, *args):
        T = real(theta, *args)
        if T < 0:
            return T
        args[5][0, 0] = 1.0 - args[5][0, 0]  # one reward changed
        return T

    monkeypatch.setattr(compiled, "_kernels", {"cartpole_logistic": wrong})
    with caplog.at_level(logging.WARNING, logger="pgrad"):
        a, b = _both(LogisticPolicy(), np.ones((1, 4)), 0, 4)
    _assert_same(a, b)  # the numpy loop ran both
    assert "disagrees" in compiled._broken["cartpole_logistic"] and jit.available()
    assert len(caplog.records) == 1 and "compiled cartpole_logistic off" in caplog.records[0].getMessage()
    assert compiled.kernel("mountain_car_softmax", 0) is not None  # the others go on


@pytest.mark.parametrize("dynamics, policy, scale", [
    (CARTPOLE, LogisticPolicy(), np.array([1.0, 3.0, 20.0, 5.0])),
    (MOUNTAIN_CAR, SoftmaxLinearPolicy(2, 3), 30.0),
])
def test_results_do_not_depend_on_the_thread_count(eager, monkeypatch, dynamics, policy, scale):
    monkeypatch.setattr(compiled, "MIN_ENVS_PER_THREAD", 8)
    theta = np.random.default_rng(8).normal(size=(5, policy.dim)) * scale
    runs = {}
    for n in ("1", "2", "3", "7"):
        monkeypatch.setenv(threads.THREADS_VAR, n)
        runs[n] = rollout(dynamics, policy, theta, [np.random.default_rng(j) for j in range(5)], 9,
                          workspace=Workspace())
    assert len(compiled._groups(45)) == 5  # seven threads asked, 45 // 8 = 5 groups
    for n, batch in runs.items():
        for field in FIELDS:
            assert getattr(batch, field).tobytes() == getattr(runs["1"], field).tobytes(), (n, field)
    reference = rollout(dynamics, policy, theta, [np.random.default_rng(j) for j in range(5)], 9,
                        workspace=Workspace(), compiled=False)
    _assert_same(runs["3"], reference)


def test_bad_thread_count_is_a_one_line_error(monkeypatch):
    monkeypatch.setenv(threads.THREADS_VAR, "two")
    with pytest.raises(ValueError, match="PGRAD_THREADS must be a positive integer"):
        threads.count()


def test_compiled_vector_step_is_cartpoles_step_and_a2c_trains_the_same(eager, monkeypatch):
    from pgrad.algorithms import a2c

    step = compiled.vector_step(CARTPOLE, np.dtype(np.float64), 0)
    assert step is not None and compiled.vector_step(CARTPOLE, np.dtype(np.float32), 0) is None
    rng = np.random.default_rng(4)
    state = rng.normal(size=(4, 2, 33)) * np.array([2.5, 3.0, 0.25, 3.0])[:, None, None]
    action = rng.integers(0, 2, (2, 33)).astype(np.int8)
    for got, want in zip(step(state, action), CARTPOLE.step(state, action), strict=True):
        assert got.shape == want.shape and got.dtype == want.dtype and got.tobytes() == want.tobytes()
    config = a2c.A2CConfig(max_steps=4096)
    fast = a2c.train(config, [2])
    monkeypatch.setattr(compiled, "vector_step", lambda *args: None)
    assert fast.theta.tobytes() == a2c.train(config, [2]).theta.tobytes()
