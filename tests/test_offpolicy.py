"""DDPG, TD3 and SAC: the squashed Gaussian's density, Adam, seeds bit-identical in a batch and
alone, checkpoint and resume bit for bit (replay buffer, optimisers and generators included),
the CLI's run folder read by ``pgrad eval`` and ``pgrad.load``, bad configs refused in one line,
and short seeded learning runs."""

import json
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import pgrad  # noqa: E402
from pgrad.algorithms import ddpg, module, sac, td3  # noqa: E402
from pgrad.algorithms.off_nets import Adam, squashed_log_prob  # noqa: E402
from pgrad.cli import main  # noqa: E402
from pgrad.training import checkpoint, loop  # noqa: E402

SMALL = dict(net_arch="16,16", batch_size=16, learning_starts=40, max_steps=240, eval_episodes=2)
"""Widths that are multiples of 8: see ``off_nets`` on bit-exactness."""
CONFIGS = {"ddpg": ddpg.DDPGConfig(**SMALL), "td3": td3.TD3Config(**SMALL), "sac": sac.SACConfig(**SMALL),
           "td3-ou": td3.TD3Config(**SMALL, noise_type="ornstein-uhlenbeck")}
"""By label: the algorithm, then ``-ou`` for Ornstein-Uhlenbeck exploration noise."""


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_squashed_gaussian_log_prob_is_the_density_of_tanh_u():
    """p(a) = d/da P(tanh(U) <= a) = d/da Phi((atanh(a) - mu) / sigma), by central differences of
    the CDF; and p integrates to 1 over (-1, 1)."""
    from scipy.stats import norm

    mu, log_std = 0.3, math.log(0.8)
    a = np.linspace(-0.995, 0.995, 399)
    h = 1e-6
    cdf = lambda x: norm.cdf((np.arctanh(x) - mu) / math.exp(log_std))  # noqa: E731
    numeric = (cdf(a + h) - cdf(a - h)) / (2 * h)
    u = torch.tensor(np.arctanh(a))[:, None]
    logp = squashed_log_prob(u, torch.tensor([[mu]], dtype=torch.float64),
                             torch.tensor([[log_std]], dtype=torch.float64)).numpy()
    np.testing.assert_allclose(np.exp(logp), numeric, rtol=1e-5)
    x = np.linspace(-10, 10, 200_001)  # in u: integral of p(tanh u) (1 - tanh^2 u) du = 1
    ut = torch.tensor(x)[:, None]
    dens = np.exp(squashed_log_prob(ut, torch.tensor([[mu]], dtype=torch.float64),
                                    torch.tensor([[log_std]], dtype=torch.float64)).numpy())
    assert abs(np.trapezoid(dens * (1 - np.tanh(x) ** 2), x) - 1) < 1e-6
    # the stable log(1 - tanh^2 u) holds where the naive form underflows: u = 30
    big = squashed_log_prob(torch.tensor([[30.0]]), torch.tensor([[30.0]]), torch.tensor([[0.0]]))
    assert torch.isfinite(big).all()


def test_adam_matches_torch_optim_adam():
    rng = np.random.default_rng(0)
    p0 = torch.tensor(rng.normal(size=(3, 5)), dtype=torch.float32)
    ours, theirs = p0.clone(), p0.clone().requires_grad_(True)
    opt, state = torch.optim.Adam([theirs], lr=0.01), Adam.zeros_like(ours)
    for _ in range(5):
        g = torch.tensor(rng.normal(size=(3, 5)), dtype=torch.float32)
        state.step(ours, g, 0.01, np.arange(3))
        theirs.grad = g.clone()
        opt.step()
    np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=1e-6, atol=1e-7)
    state.step(ours, torch.zeros(1, 5), 0.01, np.array([1]))  # one seed's row only
    assert state.t.tolist() == [5, 6, 5]


def run_to_end(algo: str, config, seeds) -> loop.TrainResult:
    return module(algo).train(config, seeds=seeds)


@pytest.mark.parametrize("label", ["ddpg", "td3", "sac", "td3-ou"])
def test_a_seed_in_a_batch_equals_the_seed_alone(label):
    config, algo = CONFIGS[label], label.split("-")[0]
    batch, alone = run_to_end(algo, config, (0, 1, 2)), run_to_end(algo, config, (1,))
    assert batch.theta[1].tobytes() == alone.theta[0].tobytes()
    assert batch.episodes[1]["return"].tobytes() == alone.episodes[0]["return"].tobytes()
    assert batch.theta[0].tobytes() != batch.theta[1].tobytes()


@pytest.mark.parametrize("label", ["td3", "sac", "td3-ou"])
def test_checkpoint_and_resume_is_bit_exact(label, tmp_path):
    """Stop after k updates (inside the warm-up and after learning started), write a checkpoint,
    load it and run to the end: the same result and the same final state as the uninterrupted run."""
    config, seeds, algo = CONFIGS[label], (0, 1), label.split("-")[0]
    algorithm = module(algo).ALGORITHM
    reference = loop.start(algo, algorithm, config, seeds)
    loop.run(algorithm, reference)
    ref_result, ref_arrays = loop.result(algorithm, reference), algorithm.save(reference.algo_state)
    for k in (20, 120):
        state = loop.start(algo, algorithm, config, seeds)
        assert loop.run(algorithm, state, [lambda m, s, k=k: loop.STOP if s.update == k else None]) is False
        folder = tmp_path / f"{label}-{k}"
        checkpoint.save(algorithm, state, folder)
        assert not any(a.dtype == object for a in np.load(folder / "state.npz", allow_pickle=False).values())
        _, resumed = checkpoint.load(folder)
        assert loop.run(algorithm, resumed) is True
        result = loop.result(algorithm, resumed)
        assert result.theta.tobytes() == ref_result.theta.tobytes()
        for a, b in zip(result.episodes, ref_result.episodes, strict=True):
            assert a["return"].tobytes() == b["return"].tobytes()
        arrays = algorithm.save(resumed.algo_state)
        assert arrays.keys() == ref_arrays.keys()
        for name in arrays:
            assert np.asarray(arrays[name]).tobytes() == np.asarray(ref_arrays[name]).tobytes(), name
        states = [r.bit_generator.state for r in resumed.rngs]
        assert states == [r.bit_generator.state for r in reference.rngs]


def test_pgrad_train_sac_writes_a_run_folder_that_eval_and_load_read(tmp_path, capsys):
    out = tmp_path / "sac"
    assert main(["train", "--algo", "sac", "--max-steps", "300", "--learning-starts", "100", "--net-arch",
                 "16,16", "--batch-size", "32", "--seeds", "0-1", "--eval-episodes", "2", "--out", str(out),
                 "--quiet"]) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        ".pgrad", "config.json", "learning_curve.png", "metrics.csv", "summary.json", "theta.npy",
        "updates.csv"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["env_steps"] == [300, 300] and summary["status"] == ["budget", "budget"]
    assert "critic_loss" in (out / "updates.csv").read_text().splitlines()[0]
    capsys.readouterr()
    assert main(["eval", str(out), "--episodes", "2"]) == 0
    assert "greedy mean" in capsys.readouterr().out
    agent = pgrad.load(out, seed=1)
    act = agent.act(np.zeros((4, 3)), greedy=True)
    assert act.shape == (4, 1) and np.all(np.abs(act) <= 2.0)
    assert agent.evaluate(2).shape == (2,)


@pytest.mark.parametrize("argv, message", [
    (["--algo", "td3", "--env-id", "CartPole-v1"], "CartPole-v1 has discrete actions"),
    (["--algo", "sac", "--net-arch", "64,x"], "--net-arch must be positive layer widths separated by"),
    (["--algo", "ddpg", "--tau", "0"], "--tau must be in (0, 1]"),
    (["--algo", "td3", "--policy-delay", "0"], "--policy-delay must be a positive integer"),
])
def test_bad_configs_are_one_line_with_exit_code_2(argv, message, tmp_path, capsys):
    assert main(["train", *argv, "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and not (tmp_path / "x").exists()


@pytest.mark.slow
@pytest.mark.parametrize("algo", ["td3", "sac"])
def test_it_learns_pendulum(algo):
    """A short seeded run: the last episodes beat the uniform warm-up's by far (Pendulum's returns
    run from about -1600 to about -120)."""
    config = type(CONFIGS[algo])(learning_starts=500, max_steps={"sac": 5000, "td3": 8000}[algo],
                                 eval_episodes=5)
    result = run_to_end(algo, config, (0,))
    returns = result.episodes[0]["return"]
    assert returns[:2].mean() < -900 and returns[-3:].mean() > -400


def test_a_gymnasium_id_trains_through_gymnasiums_own_envs_and_cannot_resume():
    import gymnasium

    if "pgrad-test/Pendulum-v0" not in gymnasium.registry:
        gymnasium.register("pgrad-test/Pendulum-v0", max_episode_steps=50,
                           entry_point="gymnasium.envs.classic_control.pendulum:PendulumEnv")
    config = td3.TD3Config(**{**SMALL, "env_id": "pgrad-test/Pendulum-v0", "max_steps": 120})
    result = td3.train(config, seeds=(0, 1))
    assert [len(t["return"]) for t in result.episodes] == [2, 2] and np.isfinite(result.theta).all()
    assert "cannot resume" in td3.ALGORITHM.restorable(config)


def test_net_arch_takes_x_as_well_as_commas_so_that_a_sweep_can_grid_over_it():
    from pgrad.algorithms.off_nets import parse_net_arch
    from pgrad.sweeps.spec import parse_grid

    assert parse_net_arch("400x300") == parse_net_arch("400,300") == (400, 300)
    assert td3.TD3Config(net_arch="16x16").hidden == (16, 16)
    assert parse_grid("td3", ["net_arch=64x64,400x300"]) == {"net_arch": ("64x64", "400x300")}
    for bad in ("64x", "x64", "64,x", "0x4", "64;64"):
        with pytest.raises(ValueError, match="net_arch must be positive layer widths separated by"):
            parse_net_arch(bad)


def test_ornstein_uhlenbeck_noise_follows_its_recursion_and_restarts_with_each_episode():
    """y_{t+1} = y_t + theta (0 - y_t) dt + sqrt(dt) eps_t from y = 0 (Stable-Baselines3's
    OrnsteinUhlenbeckActionNoise with sigma 1: the actor scales it by action_noise), per seed and
    environment; an environment whose episode ended starts again from 0."""
    from pgrad.noise import OrnsteinUhlenbeck

    process = OrnsteinUhlenbeck(num_seeds=3, num_envs=2, action_dim=1, theta=0.15, dt=0.01)
    eps = [np.array([[[1.0], [-2.0]], [[0.5], [0.25]]]), np.array([[[3.0], [1.0]], [[-1.0], [2.0]]])]
    seeds = np.array([0, 2])  # seed 1 does not step
    y1 = process.next(eps[0], seeds)
    np.testing.assert_array_equal(y1, 0.1 * eps[0])
    process.reset(seeds, np.array([[False, True], [False, False]]))  # seed 0's env 1 ended
    y2 = process.next(eps[1], seeds)
    expect = y1 + 0.15 * (0.0 - y1) * 0.01 + 0.1 * eps[1]
    expect[0, 1] = 0.1 * eps[1][0, 1]
    np.testing.assert_allclose(y2, expect, rtol=0, atol=1e-15)
    np.testing.assert_array_equal(process.state[1], 0.0)
    np.testing.assert_array_equal(process.state[seeds], y2)


def test_ornstein_uhlenbeck_exploration_changes_the_run_and_its_flags_are_checked(tmp_path, capsys):
    gaussian, ou = run_to_end("td3", CONFIGS["td3"], (0,)), run_to_end("td3", CONFIGS["td3-ou"], (0,))
    assert gaussian.theta.tobytes() != ou.theta.tobytes()
    for argv, message in [(["--noise-type", "pink"], "invalid choice: 'pink' (choose from 'normal', "
                                                     "'ornstein-uhlenbeck')"),
                          (["--noise-theta", "-1"], "--noise-theta must be non-negative"),
                          (["--noise-dt", "0"], "--noise-dt must be positive")]:
        assert main(["train", "--algo", "td3", *argv, "--out", str(tmp_path / "x"), "--quiet"]) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "x").exists()
