"""A Jupyter kernel client whose waits for a message cannot miss one that has arrived.

``make reproduce`` and the notebook tests execute notebooks with papermill/nbclient, which waits for
a cell's reply with ``await channel.get_msg(timeout=T)`` (T: the cell timeout, 300 s at the smoke
preset, 1800 s at the default one; see ``alkit.experiments.reproduce.CELL_TIMEOUTS``). That is
pyzmq's asyncio ``poll``: it waits for the event loop to be woken by the socket's notification, and
only when the timeout fires does it check the socket itself once more (``poll(0)``). A notification
that never comes (ZeroMQ signals readiness on its file descriptor edge-triggered, and a missed edge is
not signalled again) then turns into a wait of the whole timeout, after which the reply is found and
the cell "completes" normally. Seen twice in the clean-clone CI runs of 2026-12-06 (commits 6fd27b8 and 92fe827): in
notebook 01's smoke copy the cell that displays an ipywidgets box took 300.0 s and 300.01 s, exactly
the smoke cell timeout, then completed; it takes seconds otherwise. At the default preset the same
miss would hold a notebook for 30 minutes.

:class:`SlicedPollClient` waits in slices of at most :data:`POLL_SLICE_S` seconds: each slice ends
with that direct check, so a missed notification costs at most one slice. The overall timeout is
kept (``Empty`` once it has passed), ``timeout=None`` still waits for ever, and a cancelled wait
(nbclient cancels its output poller when a cell is done) stops at once.
"""

from __future__ import annotations

import time
import typing as t
from queue import Empty

from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.channels import AsyncZMQSocketChannel
from traitlets import Type

# Longest single wait on a kernel channel before the socket is checked directly (seconds). A wake-up
# per second per waiting channel costs nothing measurable beside a notebook's cells.
POLL_SLICE_S = 1.0


class SlicedPollChannel(AsyncZMQSocketChannel):
    """An asyncio kernel channel whose ``get_msg(timeout)`` polls in slices of ``POLL_SLICE_S``."""

    async def get_msg(self, timeout: float | None = None) -> t.Dict[str, t.Any]:  # type: ignore[override]
        """The next message; ``Empty`` if none arrived within ``timeout`` seconds (None: no limit)."""
        if timeout is not None and timeout <= 0:
            return await super().get_msg(timeout=0)
        deadline = None if timeout is None else time.monotonic() + float(timeout)
        while True:
            left = POLL_SLICE_S if deadline is None else deadline - time.monotonic()
            try:
                return await super().get_msg(timeout=max(min(POLL_SLICE_S, left), 0.001))
            except Empty:
                if deadline is not None and time.monotonic() >= deadline:
                    raise


class SlicedPollClient(AsyncKernelClient):
    """:class:`jupyter_client.asynchronous.AsyncKernelClient` with :class:`SlicedPollChannel` for
    the shell, IOPub, stdin and control channels (the heartbeat channel is a thread of its own)."""

    shell_channel_class = Type(SlicedPollChannel)  # type: ignore[assignment]
    iopub_channel_class = Type(SlicedPollChannel)  # type: ignore[assignment]
    stdin_channel_class = Type(SlicedPollChannel)  # type: ignore[assignment]
    control_channel_class = Type(SlicedPollChannel)  # type: ignore[assignment]
