"""The fused rollout compiled with numba: the environment's own scalar arithmetic, the policy's
action rule and the trajectory buffers in one loop, the same bits as the numpy loop of
:func:`pgrad.rollout.episodes.rollout`.

What is compiled, and why it equals the numpy path to the last bit:

- the dynamics are the environment module's ``transition``, the one implementation that the
  numpy ``step`` also runs (on whole arrays): numba compiles the same operations in the same
  order on floats, with no fastmath (:mod:`pgrad.jit`), calling the same libm ``sin``/``cos``
  that numpy's float64 loops call;
- the logistic policy's logit is ``LogisticPolicy.logits``'s sum, z = s_0 w_0 + s_1 w_1 + ...
  (+ bias), in that order, and its action is ``act``'s rule, left iff v < tanh(z / 2). numpy's
  tanh is its own SIMD code, not libm's, so the kernel cannot compute its bits. It computes the
  same function from libm's exp (three times faster than its tanh): y = sign(z) (1 - 2 /
  (exp(|z|) + 1)) for |z| >= 1/4, whose cancellation costs at most 2^-48 relative there, and
  sign(z) expm1(|z|) / (expm1(|z|) + 2) below, within 4 units in the last place of numpy's
  tanh (measured over 10^6 points from 1e-8 to 40). It decides only where v lies farther than
  ``TANH_BAND`` times |y| from y (2^-40: 256 times the worst error, 2,000 times the usual one);
  otherwise it returns "undecided" and the
  caller runs the numpy loop on the same draws. That happens about once in 10^12 steps, so
  the compiled loop runs nearly always and never changes a bit;
- the loop is the numpy loop's lockstep semantics: T is the first step after which no episode
  is running, and an ended episode stays frozen on the state it ended from. Its padding steps
  (alive false) hold that state as obs, reward 0.0, flags False and action 0: finite, and
  masked by every estimator (the numpy loop computes an action there, or, once it compacts,
  leaves whatever the buffer held), so the compiled and numpy batches are equal on every field
  and on the actions of every alive step.

Each kernel is checked once per process against the numpy path before its first use
(:func:`_self_check`); a kernel that disagrees (a stale numba cache, a numpy whose sin or cos
is not libm's) or does not build is turned off, with a one-line notice, and its rollouts run in
numpy; the other kernels go on.
"""

from __future__ import annotations

import math
import types
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from pgrad import jit
from pgrad.envs import CARTPOLE, MOUNTAIN_CAR, Dynamics, _scalar, cartpole, mountain_car
from pgrad.policies import LogisticPolicy, Policy, SoftmaxLinearPolicy
from pgrad.rollout import threads

if TYPE_CHECKING:
    from pgrad.rollout.episodes import Batch

SOFTMAX_BAND = 2.0**-40
"""The best z_a + g_a must beat each other by more than this times the sum of their terms' sizes."""

TANH_BAND = 2.0**-40
"""|v - y| at most this times |y|, y ~ tanh(z / 2), leaves the action undecided (numpy decides)."""

GREEDY_V = -float(np.finfo(np.float64).smallest_subnormal)
"""The logistic kernel's noise for greedy actions: v = -5e-324 >= y iff y < 0 iff z < 0, which is
``LogisticPolicy.mode``; where |y| is too small to tell its sign (|z| ~ 1e-300) the band leaves
it undecided. (The softmax kernel takes g = 0: argmax z + 0 = argmax z.) So the kernels have no
greedy branch in their inner loop, which costs about 15% of a step."""

UNDECIDED = -1
"""What a kernel returns when an action is too close to call with libm's tanh."""

_kernels: dict[str, Any] = {}
_checked: set[str] = set()
_broken: dict[str, str] = {}  # kernels that failed to build or to pass their check, and why


def half_tanh(z: float) -> float:
    """tanh(z / 2) from libm's exp, within 2^-48 relative of numpy's tanh (the module's docstring)."""
    magnitude = abs(z)
    if magnitude > 40.0:  # tanh(z / 2) rounds to +-1 from |z| > 38.2; exp would overflow
        y = 1.0
    elif magnitude >= 0.25:  # 1 - 2 / (exp(|z|) + 1): cancellation costs at most 2^-48 relative here
        y = 1.0 - 2.0 / (math.exp(magnitude) + 1.0)
    else:  # small |z|: no cancellation
        y = math.expm1(magnitude)
        y = y / (y + 2.0)
    return -y if z < 0 else y


_half_tanh_compiled: Any = None  # half_tanh, compiled
_cartpole_transition: Any = None  # cartpole.transition, compiled (set before the kernel compiles)


def _cartpole_logistic(theta: np.ndarray, bias: bool, state: np.ndarray, noise: np.ndarray,
                       obs_buf: np.ndarray, act_buf: np.ndarray, rew_buf: np.ndarray, term_buf: np.ndarray,
                       alive_buf: np.ndarray, alive: np.ndarray, e0: int, e1: int, t0: int, t1: int) -> int:
    """Environments e0 <= e < e1 from step t0 until none runs, or to t1: theta [N, d] (a row per
    environment), state [4, N] and alive [N] (both carried on), noise [H, N] v_t; writes obs
    [H, 4, N], act, rew, terminated, alive [H, N] for those steps; returns the step after the last
    one written, or UNDECIDED. With no environment alive it writes padding from t0 to t1."""
    N = noise.shape[1]
    running = 0
    for e in range(e0, e1):
        running += alive[e]
    stop = running > 0  # else: padding through t1
    for t in range(t0, t1):
        for e in range(N):  # (range(e0, e1) runs slower: numba cannot drop its index checks)
            if e < e0 or e >= e1:
                continue
            x, x_dot, theta_, theta_dot = state[0, e], state[1, e], state[2, e], state[3, e]
            obs_buf[t, 0, e] = x
            obs_buf[t, 1, e] = x_dot
            obs_buf[t, 2, e] = theta_
            obs_buf[t, 3, e] = theta_dot
            if not alive[e]:  # padding: the frozen state, masked reward and flags, action 0
                act_buf[t, e] = 0
                rew_buf[t, e] = 0.0
                term_buf[t, e] = False
                alive_buf[t, e] = False
                continue
            z = x * theta[e, 0]  # LogisticPolicy.logits: s_j w_j summed in order j = 0, 1, ...
            z = z + x_dot * theta[e, 1]
            z = z + theta_ * theta[e, 2]
            z = z + theta_dot * theta[e, 3]
            if bias:
                z = z + theta[e, 4]
            y = _half_tanh_compiled(z)  # LogisticPolicy.act: 1 (right) iff v >= tanh(z / 2)
            v = noise[t, e]  # greedy: GREEDY_V, so that 1 iff z < 0 (LogisticPolicy.mode)
            if abs(v - y) <= TANH_BAND * abs(y) + 1e-300:
                return UNDECIDED
            action = 1 if v >= y else 0
            act_buf[t, e] = action
            force = cartpole.FORCE_MAG if action == 1 else -cartpole.FORCE_MAG  # Gymnasium's rule
            x, x_dot, theta_, theta_dot, terminated = _cartpole_transition(x, x_dot, theta_, theta_dot, force)
            rew_buf[t, e] = 1.0
            term_buf[t, e] = terminated
            alive_buf[t, e] = True
            if terminated:  # ended: frozen on the state it ended from
                alive[e] = False
                running -= 1
            else:
                state[0, e], state[1, e], state[2, e], state[3, e] = x, x_dot, theta_, theta_dot
        if running == 0 and stop:
            return t + 1
    return t1


def _scalar_where(condition: bool, x: float, y: float) -> float:
    return x if condition else y


def _compile_transition(module: Any) -> Any:
    """``module.transition`` compiled for floats: the same code, with :mod:`pgrad.envs._scalar`'s
    array helpers bound to compiled forms (``where`` to ``x if condition else y``; ``clip`` as it is)."""
    function = module.transition
    helpers = {"where": _scalar_where, "clip": _scalar.clip}
    used = {name: jit.njit(helper, inline=True) for name, helper in helpers.items()
            if name in function.__code__.co_names}
    if not used:
        return jit.njit(function, inline=True)
    rebound = types.FunctionType(function.__code__, {**function.__globals__, **used}, function.__name__,
                                 function.__defaults__)
    rebound.__qualname__, rebound.__module__ = function.__qualname__, function.__module__
    return jit.njit(rebound, inline=True)


def _build_cartpole_logistic() -> Any:
    global _cartpole_transition, _half_tanh_compiled
    _cartpole_transition = _compile_transition(cartpole)
    _half_tanh_compiled = jit.njit(half_tanh, inline=True)
    return jit.njit(_cartpole_logistic)


_mountain_car_transition: Any = None  # mountain_car.transition, compiled


def _mountain_car_softmax(theta: np.ndarray, bias: bool, state: np.ndarray, noise: np.ndarray,
                          obs_buf: np.ndarray, act_buf: np.ndarray, rew_buf: np.ndarray, term_buf: np.ndarray,
                          alive_buf: np.ndarray, alive: np.ndarray, e0: int, e1: int, t0: int,
                          t1: int) -> int:
    """theta [N, F A] (W[f, a] = theta[F A ... f A + a]), state [2, N], noise [H, N, A] Gumbel g;
    the action argmax_a z_a + g_a (greedy: argmax_a z_a), z = phi(s) W summed over f in order, is
    decided only where the best beats every other by more than ``SOFTMAX_BAND`` times the sizes
    of the terms (numpy's einsum may sum in another order). The rest as ``_cartpole_logistic``."""
    A = noise.shape[2]
    F = theta.shape[1] // A
    score = np.empty(A)
    size = np.empty(A)
    N = noise.shape[1]
    running = 0
    for e in range(e0, e1):
        running += alive[e]
    stop = running > 0  # else: padding through t1
    for t in range(t0, t1):
        for e in range(N):  # (range(e0, e1) runs slower: numba cannot drop its index checks)
            if e < e0 or e >= e1:
                continue
            position, velocity = state[0, e], state[1, e]
            obs_buf[t, 0, e] = position
            obs_buf[t, 1, e] = velocity
            if not alive[e]:
                act_buf[t, e] = 0
                rew_buf[t, e] = mountain_car.REWARD * 0.0
                term_buf[t, e] = False
                alive_buf[t, e] = False
                continue
            for a in range(A):
                z = position * theta[e, a] + velocity * theta[e, A + a]
                magnitude = abs(position * theta[e, a]) + abs(velocity * theta[e, A + a])
                if F == 3:
                    z = z + theta[e, 2 * A + a]
                    magnitude = magnitude + abs(theta[e, 2 * A + a])
                z = z + noise[t, e, a]  # greedy: g = 0, and argmax z + 0 = argmax z
                magnitude = magnitude + abs(noise[t, e, a])
                score[a] = z
                size[a] = magnitude
            best = 0
            for a in range(1, A):
                if score[a] > score[best]:
                    best = a
            for a in range(A):
                if a != best and score[best] - score[a] <= SOFTMAX_BAND * (size[best] + size[a]) + 1e-300:
                    return UNDECIDED
            act_buf[t, e] = best
            position, velocity, terminated = _mountain_car_transition(position, velocity, float(best - 1))
            rew_buf[t, e] = mountain_car.REWARD
            term_buf[t, e] = terminated
            alive_buf[t, e] = True
            if terminated:
                alive[e] = False
                running -= 1
            else:
                state[0, e], state[1, e] = position, velocity
        if running == 0 and stop:
            return t + 1
    return t1


def _build_mountain_car_softmax() -> Any:
    global _mountain_car_transition
    _mountain_car_transition = _compile_transition(mountain_car)
    return jit.njit(_mountain_car_softmax)


def kernel(name: str, work: int) -> Any:
    """The compiled kernel ``name``, or None when the compiled path is off or not yet worth loading
    (:func:`pgrad.jit.wants`: ``work`` slots are about to run)."""
    if name in _kernels and jit.available():
        return _kernels[name]
    if name in _broken:
        return None
    if not jit.wants(work) or not jit.available():
        return None
    try:
        _kernels[name] = _BUILDERS[name]()
    except Exception as e:  # numba present but broken
        _give_up(name, f"cannot be built ({type(e).__name__}: {(str(e).splitlines() or [''])[0]})")
        return None
    return _kernels[name]


def register(name: str, build: Callable[[], Any]) -> None:
    """Add kernel ``name``, built by ``build()`` on first use (kernels outside this module)."""
    _BUILDERS[name] = build


def checked(name: str, check: Callable[[], str | None]) -> bool:
    """Whether kernel ``name`` passed its start-up check: ``check()`` (None, or what disagrees) runs
    once per process; a kernel that fails it, or raises, is turned off with a one-line notice."""
    if name not in _checked:
        _checked.add(name)
        try:
            problem = check()
        except Exception as e:
            problem = f"fails ({type(e).__name__}: {(str(e).splitlines() or [''])[0]})"
        if problem is not None:
            _give_up(name, problem)
    return name not in _broken


def _give_up(name: str, reason: str) -> None:
    """Run ``name``'s rollouts in numpy from now on, with a one-line notice (the other kernels go on)."""
    _broken[name] = reason
    _kernels.pop(name, None)
    jit.logger.warning("pgrad: compiled %s off, using numpy (same results, slower): %s", name, reason)




def kernel_for(dynamics: Dynamics, policy: Policy, dtype: np.dtype) -> str | None:
    """The name of the compiled kernel for this rollout, or None (the numpy loop runs it)."""
    if dtype != np.float64 or not jit.requested():
        return None
    if (dynamics.step is CARTPOLE.step and dynamics.observe is CARTPOLE.observe
            and type(policy) is LogisticPolicy):
        return "cartpole_logistic"
    if (dynamics.step is MOUNTAIN_CAR.step and dynamics.observe is MOUNTAIN_CAR.observe
            and type(policy) is SoftmaxLinearPolicy and policy.num_actions == mountain_car.NUM_ACTIONS):
        return "mountain_car_softmax"
    return None


def run(name: str, policy: Policy, theta_env: np.ndarray, state: np.ndarray, noise: np.ndarray, greedy: bool,
        bufs: tuple[np.ndarray, ...]) -> int | None:
    """Run kernel ``name`` on the rollout's arrays: T, or None where the numpy loop must run it
    (the compiled path is off, or an action was too close to call)."""
    H, N = noise.shape[:2]
    loop = kernel(name, H * N)
    if loop is None or not checked(name, lambda: _self_check(name)):
        return None
    if greedy:  # the greedy action from the sampling rule (see GREEDY_V)
        noise = np.full(noise.shape, GREEDY_V if name == "cartpole_logistic" else 0.0)
    # state copied: the numpy loop's, if undecided
    args = (np.ascontiguousarray(theta_env), bool(getattr(policy, "bias", False)), state.copy(), noise, *bufs)
    alive = np.ones(N, np.bool_)
    groups = _groups(N)
    if len(groups) == 1:
        T = int(loop(*args, alive, 0, N, 0, H))
        return None if T == UNDECIDED else T
    ends = threads.map(lambda g: int(loop(*args, alive, g[0], g[1], 0, H)), groups)
    if UNDECIDED in ends:
        return None
    T = max(ends)
    for (e0, e1), end in zip(groups, ends, strict=True):  # pad groups that ended early up to T
        if end < T:
            loop(*args, alive, e0, e1, end, T)
    return T


def _cartpole_vector_step(state: np.ndarray, action: np.ndarray, next_state: np.ndarray,
                          terminated: np.ndarray) -> None:
    """The vectorised form of ``cartpole.transition``: state, next_state [4, M], action, terminated [M]."""
    for e in range(state.shape[1]):
        force = cartpole.FORCE_MAG if action[e] == 1 else -cartpole.FORCE_MAG
        x, x_dot, theta_, theta_dot, term = _cartpole_transition(state[0, e], state[1, e], state[2, e],
                                                                 state[3, e], force)
        next_state[0, e], next_state[1, e], next_state[2, e], next_state[3, e] = x, x_dot, theta_, theta_dot
        terminated[e] = term


def _build_cartpole_vector_step() -> Any:
    global _cartpole_transition
    _cartpole_transition = _compile_transition(cartpole)
    kernel = jit.njit(_cartpole_vector_step)

    def step(state: np.ndarray, action: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``cartpole.step``, compiled: state [4, *batch], action [*batch] -> the same three arrays."""
        flat = np.ascontiguousarray(state.reshape(4, -1))
        next_state = np.empty_like(flat)
        terminated = np.empty(flat.shape[1], np.bool_)
        kernel(flat, np.ascontiguousarray(action.reshape(-1)), next_state, terminated)
        batch = state.shape[1:]
        return next_state.reshape(state.shape), np.ones(batch, state.dtype), terminated.reshape(batch)

    return step


def vector_step(dynamics: Dynamics, dtype: np.dtype, work: int) -> Any:
    """The compiled form of ``dynamics.step`` (same signature, same bits), or None: no kernel for
    these dynamics or dtype, the compiled path off or not yet worth loading (``work`` slots)."""
    if dtype != np.float64 or not jit.requested() or dynamics.step is not CARTPOLE.step:
        return None
    name = "cartpole_vector_step"
    step = kernel(name, work)
    if step is None or not checked(name, lambda: _check_vector_step(step)):
        return None
    return step


def _check_vector_step(step: Any) -> str | None:
    """The compiled step against cart-pole's numpy step on random states: None, or what disagrees."""
    rng = np.random.default_rng(20261202)
    state = rng.normal(size=(4, 3, 67)) * np.array([1.0, 2.0, 0.3, 3.0])[:, None, None]
    action = rng.integers(0, 2, (3, 67)).astype(np.int8)
    got, want = step(state, action), CARTPOLE.step(state, action)
    if any(a.shape != b.shape or a.tobytes() != b.tobytes() for a, b in zip(got, want, strict=True)):
        return "disagrees with cartpole.step"
    return None


_BUILDERS: dict[str, Callable[[], Any]] = {"cartpole_logistic": _build_cartpole_logistic,
                                           "mountain_car_softmax": _build_mountain_car_softmax,
                                           "cartpole_vector_step": _build_cartpole_vector_step}
"""How each kernel is built (on first use)."""

MIN_ENVS_PER_THREAD = 2048
"""Smaller batches run on one thread: below this a thread costs more than it saves."""


def _groups(num_envs: int) -> list[tuple[int, int]]:
    """Contiguous ranges of environments, one per thread. Each environment is stepped by exactly the
    same code whatever the ranges, so the results do not depend on the thread count."""
    count = max(1, min(threads.count(), num_envs // MIN_ENVS_PER_THREAD))
    edges = [num_envs * i // count for i in range(count + 1)]
    return list(zip(edges[:-1], edges[1:], strict=True))


_CHECKS: dict[str, tuple[Dynamics, Any, float]] = {
    "cartpole_logistic": (CARTPOLE, lambda bias: LogisticPolicy(bias=bias), 3.0),
    "mountain_car_softmax": (MOUNTAIN_CAR, lambda bias: SoftmaxLinearPolicy(2, 3, bias=bias), 30.0),
}
"""Each kernel's start-up check: its dynamics, its policy (with or without bias), theta's scale."""


def alive_part(batch: Batch, field: str) -> np.ndarray:
    """A Batch field as the compiled and numpy loops agree on it bit for bit: the actions of alive
    steps only (padding actions differ), every other field whole."""
    value = getattr(batch, field)
    return value[batch.alive] if field == "act" else value


def _self_check(name: str) -> str | None:
    """The kernel against the numpy loop on a small batch of episodes with random parameters, both
    biased and not, sampled and greedy: None, or the field where they disagree."""
    from pgrad.rollout.episodes import Workspace, rollout

    dynamics, make_policy, scale = _CHECKS[name]
    rng = np.random.default_rng(20261201)
    for bias in (False, True):
        policy = make_policy(bias)
        theta = rng.normal(size=(3, policy.dim)) * scale
        for greedy in (False, True):
            seed = int(rng.integers(2**32))
            rngs = [[np.random.default_rng(seed + j) for j in range(3)] for _ in range(2)]
            runs = [rollout(dynamics, policy, theta, rngs[compiled], 17, greedy=greedy,
                            workspace=Workspace(), compiled=compiled) for compiled in (True, False)]
            for field in ("obs", "act", "rew", "terminated", "truncated", "alive", "lengths"):
                a, b = (alive_part(r, field) for r in runs)
                if a.shape != b.shape or a.tobytes() != b.tobytes():
                    return f"disagrees with the numpy loop on {field}"
    return None
