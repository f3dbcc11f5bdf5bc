"""A Ray sweep through Ray Client (``--address ray://HOST:PORT``): Tune on the cluster, its events
relayed back to the sweep.

With Ray Client this process is not a Ray driver: Ray Tune would run its driver (and with it the
sweep's callbacks, its searcher and its stopper) on the cluster, away from the sweep folder and
from the sweep's own state. So the sweep runs it there itself, and keeps the two ends talking:

    relay     a :class:`Relay` actor (no CPU) on the Ray Client server's node: a mailbox of the
              Tune run's messages, the sweep's answers to Optuna's proposals, and the sweep's stop
    remote    :func:`pgrad.sweeps.ray_backend.fit` as a task (no CPU) on that node, its
              callback sending each outcome (``running`` with the Ray node id, done / failed /
              stopped / interrupted) and each checkpoint's run folder (its files, as bytes) to the
              relay; each Optuna proposal asks the sweep for its task and waits for the answer;
              its stopper reads the relay's stop
    here      the sweep polls the relay every POLL_SECONDS: outcomes go to the sweep's report, run
              folders into ``runs/<trial>/`` (written whole, as with a local Ray), proposals are
              registered with the sweep (sweep.json) and answered; SIGINT / SIGTERM set the stop

The run folders thus travel back through Ray itself: the sweep folder needs no path the cluster
can see. Tune's storage (``--storage``, else a temporary folder of the head node, removed after
the sweep) only needs to be one that every node of the cluster can reach, as with ``--address``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import itertools
import time
from collections.abc import Sequence
from typing import Any

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from pgrad.sweeps import Outcome, Report, Task
from pgrad.sweeps.local import Signals
from pgrad.sweeps.ray_backend import Events, RayOptions, StopOnSignal, fit, install
from pgrad.sweeps.ray_search import OptunaPlan
from pgrad.sweeps.spec import SweepSpec

POLL_SECONDS = 0.2
"""How often the sweep reads the relay, and the remote stopper the relay's stop."""


def ping(address: str, where: str, seconds: float) -> None:
    """A one-line ValueError unless a Ray Client server answers its ping at ``where`` (HOST:PORT)
    within ``seconds`` (Ray itself would retry for half a minute), over a channel made as Ray
    Client makes its own (TLS from RAY_USE_TLS, Ray's token if its auth mode is on)."""
    grpc: Any = importlib.import_module("grpc")  # Ray Client's own transport; untyped, as are
    ray_client_pb2: Any = importlib.import_module("ray.core.generated.ray_client_pb2")  # Ray's
    ray_client_pb2_grpc: Any = importlib.import_module("ray.core.generated.ray_client_pb2_grpc")  # stubs
    try:
        channel = importlib.import_module("ray._private.grpc_utils").init_grpc_channel(where)
    except (ImportError, AttributeError):  # moved in another Ray version: a plain channel
        channel = grpc.insecure_channel(where)
    try:
        grpc.channel_ready_future(channel).result(timeout=seconds)
        request = ray_client_pb2.ClusterInfoRequest(type=ray_client_pb2.ClusterInfoType.PING)
        ray_client_pb2_grpc.RayletDriverStub(channel).ClusterInfo(request, timeout=seconds)
    except grpc.FutureTimeoutError:
        raise ValueError(f"--address {address}: {where} answers, but not as a Ray Client server (no gRPC "
                         f"within {seconds:g} s; the head's Ray Client port is 10001 by default)") from None
    except grpc.RpcError as e:
        details = e.details() or ""
        raise ValueError(f"--address {address}: {where} is not a Ray Client server that lets us in "
                         f"({e.code().name}{': ' + details if details else ''}; the head's Ray Client "
                         "port is 10001 by default)") from None
    finally:
        channel.close()


@ray.remote(num_cpus=0)
class Relay:
    """The mailbox between the sweep and its Tune run on the cluster (an async actor: its methods
    run one at a time, in the order each caller sent them, except :meth:`ask`, which waits)."""

    def __init__(self) -> None:
        self.messages: list[tuple[Any, ...]] = []
        self.answers: dict[int, Any] = {}
        self.answered = asyncio.Condition()
        self.keys = itertools.count()
        self.stop = False

    async def put(self, message: tuple[Any, ...]) -> None:
        self.messages.append(message)

    async def take(self) -> list[tuple[Any, ...]]:
        taken, self.messages = self.messages, []
        return taken

    async def ask(self, values: dict[str, Any]) -> Any:
        """The sweep's answer to ``("claim", key, values)``."""
        key = next(self.keys)
        self.messages.append(("claim", key, values))
        async with self.answered:
            await self.answered.wait_for(lambda: key in self.answers)
        return self.answers.pop(key)

    async def answer(self, key: int, answer: Any) -> None:
        async with self.answered:
            self.answers[key] = answer
            self.answered.notify_all()

    async def set_stop(self) -> None:
        self.stop = True

    async def stopping(self) -> bool:
        return self.stop


class Relayed:
    """The remote Tune run's side of the relay: the sweep's report, install and claim, and a
    ``received`` list for :class:`~pgrad.sweeps.ray_backend.StopOnSignal`."""

    def __init__(self, relay: Any) -> None:
        self.relay = relay
        self.read = 0.0
        self.stopped = False

    def report(self, outcome: Outcome) -> None:
        self.relay.put.remote(("outcome", outcome))

    def install(self, run_dir: str, files: dict[str, bytes]) -> None:
        self.relay.put.remote(("files", run_dir, files))

    def claim(self, values: dict[str, Any]) -> Task:
        task: Task = ray.get(self.relay.ask.remote(values))
        return task

    @property
    def received(self) -> list[int]:
        if not self.stopped and time.monotonic() - self.read > POLL_SECONDS:
            self.read = time.monotonic()
            self.stopped = bool(ray.get(self.relay.stopping.remote()))
        return [0] if self.stopped else []


@ray.remote(num_cpus=0)
def _fit_remote(tasks: Sequence[Task], snapshots: dict[str, dict[str, bytes]], spec: SweepSpec,
                options: RayOptions, search: OptunaPlan | None, relay: Any) -> list[tuple[str, str | None]]:
    """:func:`pgrad.sweeps.ray_backend.fit` on the cluster, its events relayed; the trials it left
    unsettled (stopped with the sweep), with their nodes."""
    relayed = Relayed(relay)
    if search is not None:
        search = dataclasses.replace(search, claim=relayed.claim)
    events = Events(relayed.report, spec.scheduler, relayed.install)
    try:
        fit(tasks, snapshots, spec=spec, options=options, search=search, events=events,
            stop=StopOnSignal(relayed))
    finally:
        ray.get(relay.put.remote(("end",)))  # returns once the relay holds every message sent before
    return events.unsettled()


def run_remote(tasks: Sequence[Task], snapshots: dict[str, dict[str, bytes]], report: Report,
               signals: Signals, *, spec: SweepSpec, options: RayOptions,
               search: OptunaPlan | None) -> list[tuple[str, str | None]]:
    """Run the sweep's Tune experiment on the cluster this process reaches through Ray Client, and
    follow it here until it ends: outcomes to ``report``, run folders into their trials' folders,
    Optuna's proposals claimed through ``search.claim``, SIGINT / SIGTERM (``signals``) passed on as
    a stop. Returns the trials left unsettled, with their nodes."""
    here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
    relay = Relay.options(scheduling_strategy=here).remote()  # type: ignore[attr-defined]
    plain = None if search is None else dataclasses.replace(search, claim=_here_only)  # claim: below
    running = _fit_remote.options(scheduling_strategy=here).remote(
        list(tasks), snapshots, spec, options, plain, relay)
    told, finished = False, False
    try:
        while not finished:  # once the task finished, its messages are all in the relay: one more read
            finished = bool(ray.wait([running], timeout=POLL_SECONDS)[0])
            if signals.received and not told:
                relay.set_stop.remote()
                told = True
            for message in ray.get(relay.take.remote()):
                if message[0] == "outcome":
                    report(message[1])
                elif message[0] == "files":
                    install(message[1], message[2])
                elif message[0] == "claim":
                    assert search is not None
                    relay.answer.remote(message[1], search.claim(message[2]))
        unsettled: list[tuple[str, str | None]] = ray.get(running)
    finally:
        ray.kill(relay)
    return unsettled


def _here_only(values: dict[str, Any]) -> Task:
    """What the plan shipped to the cluster holds instead of the sweep's own claim (its state stays
    here): the remote run claims through its relay."""
    raise AssertionError("a remote Tune run claims through its relay")
