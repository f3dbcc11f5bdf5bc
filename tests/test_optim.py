"""SGD and Adam as pure ascent steps, batched over seeds."""

import numpy as np

from pgrad.optim import SGD, Adam, put, take


def test_sgd_ascends():
    theta, state = SGD(lr=0.1).step(np.array([1.0, 2.0]), np.array([10.0, -10.0]), ())
    np.testing.assert_allclose(theta, [2.0, 1.0])


def test_adam_first_step_moves_by_lr_in_the_gradient_sign():
    opt = Adam(lr=0.01)
    theta = np.zeros((1, 3))
    theta, (m, v, n) = opt.step(theta, np.array([[2.0, -0.5, 0.0]]), opt.init(theta))
    # m_hat = g, v_hat = g^2 after one step: update = lr * g / (|g| + eps)
    np.testing.assert_allclose(theta, [[0.01, -0.01, 0.0]], rtol=1e-7)
    assert n.tolist() == [1]


def test_adam_second_step_hand_computed():
    opt = Adam(lr=1.0, b1=0.5, b2=0.5, eps=0.0)
    theta = np.zeros(1)
    state = opt.init(theta)
    theta, state = opt.step(theta, np.array([1.0]), state)
    theta, state = opt.step(theta, np.array([3.0]), state)
    m = 0.5 * 0.5 + 0.5 * 3  # 1.75; m_hat = 1.75 / 0.75
    v = 0.5 * 0.5 + 0.5 * 9  # 4.75; v_hat = 4.75 / 0.75
    np.testing.assert_allclose(theta, [1.0 + (m / 0.75) / np.sqrt(v / 0.75)])


def test_batched_seeds_step_exactly_as_alone():
    rng = np.random.default_rng(0)
    opt = Adam(lr=0.1)
    theta = rng.normal(size=(4, 5))
    state = opt.init(theta)
    grads = rng.normal(size=(3, 4, 5))
    alone = [theta[i : i + 1].copy() for i in range(4)]
    alone_state = [take(state, np.array([i])) for i in range(4)]
    for g in grads:
        theta, state = opt.step(theta, g, state)
        for i in range(4):
            alone[i], alone_state[i] = opt.step(alone[i], g[i : i + 1], alone_state[i])
    for i in range(4):
        assert np.array_equal(alone[i][0], theta[i])
    idx = np.array([1, 3])
    part = take(state, idx)
    put(state, idx, tuple(x * 0 for x in part))
    assert (state[0][idx] == 0).all() and (state[0][[0, 2]] != 0).all()
