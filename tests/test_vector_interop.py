"""pgrad's vector env and its registration under Gymnasium's own vector conventions (checks adapted
from Gymnasium's tests/envs/registration/test_make_vec.py and test_env_spec.py): kwargs pgrad does not
mirror, JSON-able and re-creatable specs, scalar actions, and registration in either import order."""

from __future__ import annotations

import subprocess
import sys

import gymnasium
import numpy as np
import pytest
from gymnasium.envs.registration import EnvSpec, load_env_creator

import pgrad
from pgrad.envs import DYNAMICS, get_dynamics
from pgrad.envs.registration import VECTOR_ENTRY_POINTS
from pgrad.envs.vector import DynamicsVectorEnv

ENV_IDS = list(DYNAMICS)
UNMIRRORED = [("CartPole-v1", {"sutton_barto_reward": True}), ("Pendulum-v1", {"g": 9.81}),
              ("MountainCarContinuous-v0", {"goal_velocity": 0.1}),
              ("MountainCar-v0", {"goal_velocity": 0.1})]


def one_line(info: pytest.ExceptionInfo) -> str:
    message = str(info.value)
    assert "\n" not in message
    return message


# --- env kwargs pgrad does not mirror -----------------------------------------------------------

@pytest.mark.parametrize("env_id, kwargs", UNMIRRORED)
def test_unmirrored_kwarg_is_one_line_error(env_id, kwargs):
    (name,) = kwargs
    makers = [lambda: pgrad.make_vec(env_id, 2, **kwargs),
              lambda: gymnasium.make_vec(f"pgrad/{env_id}", 2, **kwargs),
              lambda: gymnasium.make_vec(f"pgrad/{env_id}", 2, vectorization_mode="vector_entry_point",
                                         **kwargs)]
    for make in makers:
        with pytest.raises(ValueError) as info:
            make()
        message = one_line(info)
        assert f"'{name}'" in message and "supported: dtype, max_episode_steps, render_mode" in message
    # Gymnasium's own env takes it
    sync = gymnasium.make_vec(f"pgrad/{env_id}", 2, vectorization_mode="sync", **kwargs)
    assert isinstance(sync, gymnasium.vector.SyncVectorEnv)


def test_all_unmirrored_kwargs_are_named():
    with pytest.raises(ValueError) as info:
        pgrad.make_vec("Pendulum-v1", 2, g=9.81, gravity=1.0)
    assert "'g', 'gravity'" in one_line(info)


# --- specs --------------------------------------------------------------------------------------

@pytest.mark.parametrize("env_id", ENV_IDS)
def test_vector_entry_point_is_a_named_string(env_id):
    spec = gymnasium.spec(f"pgrad/{env_id}")
    assert spec.vector_entry_point == VECTOR_ENTRY_POINTS[env_id]
    assert isinstance(spec.vector_entry_point, str)
    venv = load_env_creator(spec.vector_entry_point)(num_envs=2)
    assert type(venv) is DynamicsVectorEnv and venv.dynamics is get_dynamics(env_id)
    assert spec.entry_point == gymnasium.spec(env_id).entry_point


SPEC_KWARGS = [{}, {"num_envs": 3}, {"vectorization_mode": "vector_entry_point"},
               {"vectorization_mode": "sync"}, {"render_mode": "rgb_array"}, {"max_episode_steps": 5},
               {"dtype": "float32", "num_envs": 2}, {"vectorization_mode": "sync", "max_episode_steps": 5}]


@pytest.mark.parametrize("kwargs", SPEC_KWARGS, ids=str)
@pytest.mark.parametrize("env_id", ENV_IDS)
def test_make_vec_with_spec(env_id, kwargs):
    """As Gymnasium's test_make_vec_with_spec, plus the JSON round trip of test_env_spec."""
    envs = gymnasium.make_vec(f"pgrad/{env_id}", **kwargs)
    assert envs.spec is not None
    assert EnvSpec.from_json(envs.spec.to_json()) == envs.spec
    recreated = gymnasium.make_vec(envs.spec)
    assert recreated.spec == envs.spec and type(recreated) is type(envs)
    assert recreated.num_envs == envs.num_envs
    assert recreated.observation_space == envs.observation_space
    assert recreated.single_observation_space == envs.single_observation_space
    assert recreated.action_space == envs.action_space
    assert recreated.single_action_space == envs.single_action_space
    assert recreated.render_mode == envs.render_mode
    if isinstance(envs, DynamicsVectorEnv):
        assert recreated.dtype == envs.dtype and recreated.max_episode_steps == envs.max_episode_steps
        obs, _ = envs.reset(seed=1)
        assert np.array_equal(obs, recreated.reset(seed=1)[0])
    envs.close()
    recreated.close()


@pytest.mark.parametrize("num_envs", [1, 3, 10])
def test_make_vec_num_envs_and_render_mode(num_envs):
    envs = gymnasium.make_vec("pgrad/CartPole-v1", num_envs=num_envs)
    assert isinstance(envs, DynamicsVectorEnv) and envs.num_envs == num_envs and envs.render_mode is None
    rendering = gymnasium.make_vec("pgrad/CartPole-v1", num_envs, render_mode="rgb_array")
    assert rendering.render_mode == "rgb_array"


def test_async_vectorization_of_a_pgrad_id():
    envs = gymnasium.make_vec("pgrad/Pendulum-v1", 2, vectorization_mode="async")
    try:
        assert isinstance(envs, gymnasium.vector.AsyncVectorEnv)
        envs.reset(seed=0)
        envs.step(envs.action_space.sample())
    finally:
        envs.close()


# --- scalar actions -----------------------------------------------------------------------------

@pytest.mark.parametrize("env_id", ENV_IDS)
def test_scalar_action_is_a_type_error_as_in_sync_vector_env(env_id):
    venv = pgrad.make_vec(env_id, 2)
    venv.reset(seed=0)
    sync = gymnasium.make_vec(env_id, 2, vectorization_mode="sync")
    sync.reset(seed=0)
    scalars = [0, np.int64(1)] if venv.dynamics.discrete else [0.5, np.float32(1.0), np.array(0.5)]
    for action in scalars:
        with pytest.raises(TypeError):
            sync.step(action)
        with pytest.raises(TypeError) as info:
            venv.step(action)
        assert one_line(info).startswith(f"Unable to iterate over the following elements: {action}")
    assert venv.steps.tolist() == [0, 0]  # nothing stepped


# --- registration by import pgrad, in either order ----------------------------------------------

def run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-W", "error", "-c", code], capture_output=True, text=True,
                          check=True)


MAKE = ("v = gymnasium.make_vec('pgrad/CartPole-v1', 2, vectorization_mode='vector_entry_point'); "
        "assert type(v).__name__ == 'DynamicsVectorEnv'")


@pytest.mark.parametrize("imports", ["import pgrad, gymnasium", "import gymnasium, pgrad",
                                     "import pgrad.envs.vector, gymnasium",
                                     "import pgrad.envs.registration, gymnasium"])
def test_import_in_either_order_registers(imports):
    run(f"{imports}; {MAKE}")


def test_import_pgrad_alone_leaves_gymnasium_out():
    run("import sys, pgrad; assert 'gymnasium' not in sys.modules; "
        "assert 'pgrad.envs.vector' not in sys.modules")


def test_gymnasium_keeps_its_loader_and_the_finder_leaves():
    run("import sys, pgrad, gymnasium; "
        "assert type(gymnasium.__loader__).__name__ == 'SourceFileLoader', gymnasium.__loader__; "
        "assert gymnasium.__spec__.loader is gymnasium.__loader__; "
        "assert not any(type(f).__name__ == '_RegisterOnImport' for f in sys.meta_path); "
        "import pgrad.envs.registration as r; r.register_when_gymnasium_loads(); r.register_all()")


def test_failed_registration_does_not_break_import_gymnasium():
    code = ("import pgrad.envs.registration as r\n"
            "def fail(): raise RuntimeError('boom')\n"
            "r.register_all = fail\n"
            "import warnings\n"
            "with warnings.catch_warnings(record=True) as caught:\n"
            "    warnings.simplefilter('always')\n"
            "    import gymnasium\n"
            "gymnasium.make('CartPole-v1')\n"
            "assert 'pgrad/CartPole-v1' not in gymnasium.registry\n"
            "print([str(w.message) for w in caught if 'pgrad' in str(w.message)])")
    out = run(code)
    assert out.stdout.strip() == "['pgrad could not register its Gymnasium ids: RuntimeError: boom']"
