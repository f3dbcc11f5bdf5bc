"""The shared actor-critic pieces: the linear path's factored gradient equals the policy's own score
function (finite-difference tested elsewhere), the MLP path's autograd gradient equals it too."""

import numpy as np
import pytest

from pgrad import estimators
from pgrad.algorithms import ac_agent
from pgrad.algorithms import ac_gradients as ac
from pgrad.policies import GaussianLinearPolicy, MLPCategoricalPolicy, SoftmaxLinearPolicy
from pgrad.policies.softmax import log_softmax_and_softmax
from pgrad.values import MLPValue

RNG = np.random.default_rng(0)


@pytest.mark.parametrize("policy", [SoftmaxLinearPolicy(4, 3, bias=True), GaussianLinearPolicy(4, 2)])
def test_linear_gradient_is_the_mean_of_coefficient_times_score_plus_the_entropy_gradient(policy):
    theta, obs = RNG.normal(size=(2, policy.dim)), RNG.normal(size=(2, 7, 4))
    act = policy.sample(theta, obs, RNG)
    coef = RNG.normal(size=(2, 7))
    fwd = ac.linear_forward(policy, theta, obs, act)
    np.testing.assert_allclose(fwd.logp, policy.log_prob(theta, obs, act), rtol=1e-12)
    expected = (coef[..., None] * policy.grad_log_prob(theta, obs, act)).mean(axis=1)
    if isinstance(policy, GaussianLinearPolicy):
        expected += 0.1 * policy.grad_entropy(theta, obs).mean(axis=1)
    else:
        scores = np.stack([policy.grad_log_prob(theta, obs, np.full(act.shape, a)) for a in range(3)], -2)
        expected += 0.1 * estimators.categorical_entropy_grad(policy.probs(theta, obs), scores).mean(axis=1)
    np.testing.assert_allclose(ac.linear_gradient(fwd, coef, 0.1), expected, atol=1e-14)


def test_the_one_log_softmax_matches_scipy():
    from scipy.special import log_softmax as scipy_log_softmax

    z = RNG.normal(scale=10, size=(3, 50, 5))
    logp, probs = log_softmax_and_softmax(z)
    np.testing.assert_allclose(logp, scipy_log_softmax(z, axis=-1), atol=1e-13)
    np.testing.assert_allclose(probs, np.exp(logp), rtol=1e-13)
    np.testing.assert_allclose(probs.sum(axis=-1), 1.0, rtol=1e-14)


def test_mlp_gradient_is_the_autograd_score_times_the_coefficient():
    pytest.importorskip("torch")
    policy, value = MLPCategoricalPolicy(4, 2, (8,)), MLPValue(4, (8,))
    agent = ac_agent.Agent(policy, value)
    rngs = [np.random.default_rng(1)]
    params = np.concatenate([policy.init(1, rng=rngs), value.init(1, rng=rngs)], axis=1)
    obs = RNG.normal(size=(1, 6, 4))
    act = policy.sample(params[:, :policy.dim], obs, RNG)
    coef, ret = RNG.normal(size=(1, 6)), RNG.normal(size=(1, 6))
    fwd = ac.forward(agent, params, obs, act)
    grad = ac.mlp_gradient(fwd, coef, ac.to_torch(ret)[0], ent_coef=0.0, vf_coef=0.0)
    expected = (coef[..., None] * policy.grad_log_prob(params[:, :policy.dim], obs, act)).mean(axis=1)
    np.testing.assert_allclose(grad[:, :policy.dim], expected, atol=1e-5)  # torch runs in float32
    assert not grad[:, policy.dim:].any()  # vf_coef = 0: no value gradient
