"""alkit.experiments.kernel_client: a wait for a kernel message polls in short slices, so a reply
whose wake-up was missed is found within one slice instead of at the cell timeout; the overall
timeout, waiting for ever and cancellation behave as before."""

import asyncio
import time
from queue import Empty

import pytest

from alkit.experiments import kernel_client as K


class SilentSocket:
    """A socket whose asyncio poll is never woken: like pyzmq's, it answers only when its timeout
    fires (the direct check at the end of the poll), and then only once the message has arrived."""

    def __init__(self, arrives_after: float):
        self.t0 = time.monotonic()
        self.arrives_after = arrives_after
        self.polls: list = []

    async def poll(self, timeout_ms):
        self.polls.append(timeout_ms)
        if timeout_ms is None:  # a poll without a timeout never ends when the wake-up is missed
            await asyncio.Event().wait()
        await asyncio.sleep(timeout_ms / 1000)
        return int(time.monotonic() - self.t0 >= self.arrives_after)


def channel(sock):
    ch = K.SlicedPollChannel.__new__(K.SlicedPollChannel)  # no real ZMQ socket or session
    ch.socket = sock

    async def recv():
        return {"msg": "reply"}

    ch._recv = recv
    return ch


@pytest.fixture(autouse=True)
def short_slices(monkeypatch):
    monkeypatch.setattr(K, "POLL_SLICE_S", 0.05)


def test_a_missed_wakeup_costs_one_slice_not_the_timeout():
    sock = SilentSocket(arrives_after=0.12)
    t = time.monotonic()
    assert asyncio.run(channel(sock).get_msg(timeout=30)) == {"msg": "reply"}
    assert time.monotonic() - t < 1.0  # the plain poll would have waited the 30 s
    assert all(ms is not None and ms <= 50 for ms in sock.polls) and len(sock.polls) >= 3


def test_the_overall_timeout_still_raises_empty():
    sock = SilentSocket(arrives_after=10)
    t = time.monotonic()
    with pytest.raises(Empty):
        asyncio.run(channel(sock).get_msg(timeout=0.2))
    assert 0.2 <= time.monotonic() - t < 1.0


def test_no_timeout_waits_in_slices_until_the_message_and_zero_checks_once():
    sock = SilentSocket(arrives_after=0.15)
    assert asyncio.run(channel(sock).get_msg(timeout=None)) == {"msg": "reply"}
    assert None not in sock.polls
    sock = SilentSocket(arrives_after=10)
    with pytest.raises(Empty):
        asyncio.run(channel(sock).get_msg(timeout=0))
    assert sock.polls == [0]


def test_a_cancelled_wait_stops_at_once():
    async def main():
        task = asyncio.ensure_future(channel(SilentSocket(arrives_after=10)).get_msg(timeout=None))
        await asyncio.sleep(0.12)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    asyncio.run(main())


def test_notebook_kernels_get_the_sliced_client():
    from alkit.experiments.reproduce import _ipc_kernels
    with _ipc_kernels() as manager:
        km = manager()
        kc = km.client()
        assert isinstance(kc, K.SlicedPollClient)
        assert kc.shell_channel_class is K.SlicedPollChannel and kc.iopub_channel_class is K.SlicedPollChannel
