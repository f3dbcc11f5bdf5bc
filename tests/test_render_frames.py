"""render_mode="rgb_array": every frame of pgrad's vector env is pixel-equal to the one Gymnasium's
own single env draws in the same state (and Pendulum's last torque), for both dtypes and both ways
of making the env."""

from __future__ import annotations

import os
import subprocess
import sys

import gymnasium
import numpy as np
import pytest

import pgrad
from pgrad.envs.render import RENDER_FPS

ENV_IDS = ["CartPole-v1", "Acrobot-v1", "MountainCar-v0", "MountainCarContinuous-v0", "Pendulum-v1"]
NUM_ENVS = 3


def make(maker: str, env_id: str, n: int, **kwargs):
    if maker == "pgrad":
        return pgrad.make_vec(env_id, n, render_mode="rgb_array", **kwargs)
    return gymnasium.make_vec(f"pgrad/{env_id}", n, vectorization_mode="vector_entry_point",
                              render_mode="rgb_array", **kwargs)


def reference_frame(ref: gymnasium.Env, row: np.ndarray) -> np.ndarray:
    """Gymnasium's frame with pgrad's state values, in the dtype Gymnasium's env holds right now
    (its own reset or step chose it); Pendulum's last_u is the env's own."""
    ref.unwrapped.state = row.astype(np.asarray(ref.unwrapped.state).dtype)
    return ref.render()


def assert_drawn_as_gymnasium_holds(venv, ref: gymnasium.Env) -> None:
    """The state the renderer last drew (the last copy's) has the values and the dtype of Gymnasium's
    state: frames rarely depend on the dtype, but the renderers' arithmetic does."""
    drawn = venv.renderer.env.state
    assert drawn.dtype == np.asarray(ref.unwrapped.state).dtype and np.array_equal(drawn, venv.state[:, -1])


def gym_action(venv, actions: np.ndarray, i: int):
    return int(actions[i]) if venv.dynamics.discrete else actions[i]


@pytest.mark.parametrize("maker", ["pgrad", "gymnasium"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("env_id", ENV_IDS)
def test_frames_equal_gymnasium(env_id, dtype, maker):
    """Reset states of three seeds, then five random steps: each copy's frame equals Gymnasium's env
    stepped with the same actions from the same reset state (its state bit-equal in float64)."""
    for seed in range(3):
        venv = make(maker, env_id, NUM_ENVS, dtype=dtype)
        venv.reset(seed=seed)
        venv.action_space.seed(seed)
        refs = [gymnasium.make(env_id, render_mode="rgb_array") for _ in range(NUM_ENVS)]
        for ref in refs:
            ref.reset(seed=seed)  # sets Pendulum's last_u to None
        frames = venv.render()
        assert isinstance(frames, tuple) and len(frames) == NUM_ENVS
        assert_drawn_as_gymnasium_holds(venv, refs[-1])
        for i, ref in enumerate(refs):
            assert np.array_equal(frames[i], reference_frame(ref, venv.state[:, i]))
        assert not np.array_equal(frames[0], frames[1])  # different states, different frames
        first = frames
        for _ in range(5):
            actions = venv.action_space.sample()
            _, _, terminated, truncated, _ = venv.step(actions)
            assert not (terminated.any() or truncated.any())
            for i, ref in enumerate(refs):
                ref.step(gym_action(venv, actions, i))
                if dtype == np.float64:  # Gymnasium's own state, untouched by reference_frame
                    assert np.array_equal(np.asarray(ref.unwrapped.state), venv.state[:, i])
            frames = venv.render()
            assert_drawn_as_gymnasium_holds(venv, refs[-1])
            for i, ref in enumerate(refs):
                assert np.array_equal(frames[i], reference_frame(ref, venv.state[:, i]))
        if env_id != "MountainCar-v0":  # five steps barely move the car
            assert not np.array_equal(first[0], frames[0])
        venv.close()


def test_frame_shape_and_dtype():
    for env_id in ENV_IDS:
        venv = pgrad.make_vec(env_id, 2, render_mode="rgb_array")
        venv.reset(seed=0)
        ref = gymnasium.make(env_id, render_mode="rgb_array")
        ref.reset(seed=0)
        expected = ref.render().shape
        assert len(expected) == 3 and expected[2] == 3
        for frame in venv.render():
            assert frame.shape == expected and frame.dtype == np.uint8
        venv.close()


def test_pendulum_draws_the_last_torque_and_none_after_a_reset():
    """The arrow shows after a torque (frame differs from last_u=None) and is gone after a reset,
    including the next-step autoreset; its size and side follow the clipped torque."""
    venv = pgrad.make_vec("Pendulum-v1", 2, render_mode="rgb_array", max_episode_steps=2)
    venv.reset(seed=4)
    ref = gymnasium.make("Pendulum-v1", render_mode="rgb_array")
    ref.reset(seed=0)
    for torques in ([[1.5], [-0.7]], [[3.0], [-9.0]], [[0.2], [2.0]]):  # the third step resets
        actions = np.array(torques, np.float32)
        before = venv.state.copy()
        venv.step(actions)
        frames = venv.render()
        for i in range(2):
            ref.unwrapped.state = venv.state[:, i].copy()
            ref.unwrapped.last_u = None
            without_arrow = ref.render()
            if venv.steps[i] == 0:  # just reset: no arrow
                assert not np.array_equal(venv.state[:, i], before[:, i])
                assert np.array_equal(frames[i], without_arrow)
                continue
            assert not np.array_equal(frames[i], without_arrow)
            ref.unwrapped.last_u = np.clip(actions[i], -2.0, 2.0)[0]
            assert np.array_equal(frames[i], ref.render())
    venv.reset(seed=5)
    ref.unwrapped.state, ref.unwrapped.last_u = venv.state[:, 0].copy(), None
    assert np.array_equal(venv.render()[0], ref.render())


def test_given_state_keeps_its_values():
    """A float64 state given to reset(options=...) is drawn as given (not rounded to float32)."""
    state = np.array([[0.3, 0.1, -0.2, 0.05], [0.1, 0.2, 0.3, 0.4]])
    venv = pgrad.make_vec("Acrobot-v1", 2, render_mode="rgb_array")
    venv.reset(options={"state": state})
    ref = gymnasium.make("Acrobot-v1", render_mode="rgb_array")
    ref.reset(seed=0)
    frames = venv.render()
    assert venv.renderer.env.state.dtype == np.float64
    for i, frame in enumerate(frames):
        ref.unwrapped.state = state[i]
        assert np.array_equal(frame, ref.render())


def test_metadata_matches_gymnasium():
    for env_id in ENV_IDS:
        venv = pgrad.make_vec(env_id, 1)
        own = gymnasium.make(env_id).unwrapped.metadata
        assert venv.metadata["render_fps"] == own["render_fps"] == RENDER_FPS[env_id]
        assert venv.metadata["render_modes"] == ["rgb_array"] and venv.render_mode is None


@pytest.mark.parametrize("maker", ["pgrad", "gymnasium"])
def test_human_render_mode_refused(maker):
    with pytest.raises(ValueError) as info:
        if maker == "pgrad":
            pgrad.make_vec("CartPole-v1", 2, render_mode="human")
        else:
            gymnasium.make_vec("pgrad/CartPole-v1", 2, render_mode="human")
    assert str(info.value) == "render_mode must be None or 'rgb_array', got 'human'"


def test_render_before_reset_and_without_render_mode():
    venv = pgrad.make_vec("CartPole-v1", 2, render_mode="rgb_array")
    with pytest.raises(gymnasium.error.ResetNeeded, match="^call reset\\(\\) before render\\(\\)$"):
        venv.render()
    plain = pgrad.make_vec("CartPole-v1", 2)
    plain.reset(seed=0)
    with pytest.warns(UserWarning, match="render_mode='rgb_array'"):
        assert plain.render() is None


def test_close_closes_the_renderer():
    venv = pgrad.make_vec("Acrobot-v1", 2, render_mode="rgb_array")
    venv.reset(seed=0)
    venv.render()
    assert venv.renderer.env is not None
    venv.close()
    assert venv.renderer.env is None and venv.closed


def test_other_gymnasium_ids_pass_render_mode_through():
    venv = pgrad.make_vec("FrozenLake-v1", 2, render_mode="rgb_array")
    assert isinstance(venv, gymnasium.vector.SyncVectorEnv) and venv.render_mode == "rgb_array"
    venv.reset(seed=0)
    frames = venv.render()
    assert len(frames) == 2 and frames[0].shape == (256, 256, 3)
    venv.close()


def headless_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "SDL_VIDEODRIVER")}
    return {**env, **extra}


def test_no_display_draws_off_screen():
    code = ("import os, pgrad; v = pgrad.make_vec('CartPole-v1', 1, render_mode='rgb_array'); "
            "v.reset(seed=0); print(os.environ.get('SDL_VIDEODRIVER')); v.render(); "
            "print(os.environ['SDL_VIDEODRIVER'])")
    out = subprocess.run([sys.executable, "-c", code], env=headless_env(), capture_output=True, text=True,
                         check=True)
    assert out.stdout.split() == ["None", "dummy"]  # set on the first frame only
    kept = subprocess.run([sys.executable, "-c", code], env=headless_env(SDL_VIDEODRIVER="offscreen"),
                          capture_output=True, text=True, check=True)
    assert kept.stdout.split() == ["offscreen", "offscreen"]


def test_missing_pygame_names_the_extra():
    code = ("import sys; sys.modules['pygame'] = None; import pgrad; "
            "v = pgrad.make_vec('CartPole-v1', 1, render_mode='rgb_array'); v.reset(seed=0)\n"
            "try:\n    v.render()\nexcept Exception as e:\n    print(type(e).__name__, '|', e)")
    out = subprocess.run([sys.executable, "-c", code], env=headless_env(), capture_output=True, text=True,
                         check=True)
    assert out.stdout == "DependencyNotInstalled | rendering needs pygame: pip install 'pgrad[render]'\n"
