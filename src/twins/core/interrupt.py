"""Stop a training cleanly when the batch system says its time is up.

SLURM sends SIGTERM at a job's time limit (and, with `--signal=TERM@<seconds>`, that many seconds
earlier), then SIGKILL after the site's KillWait. The training finishes the epoch it is in, writes its
checkpoint and exits non-zero, so the profile's retry (with a longer runtime) resumes from there; an
epoch that does not finish before SIGKILL loses only itself (the previous checkpoint stays).
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM,)


class TrainingInterrupted(RuntimeError):
    """The batch system asked the job to stop; a checkpoint was written, a rerun resumes from it."""


class StopRequest:
    """Set by a stop signal; the training loop reads it after each epoch."""

    def __init__(self) -> None:
        self.signal: int | None = None

    def __bool__(self) -> bool:
        return self.signal is not None

    @property
    def name(self) -> str:
        return signal.Signals(self.signal).name if self.signal is not None else ""


@contextmanager
def stop_requested_by_signals(signals: tuple[int, ...] = STOP_SIGNALS) -> Iterator[StopRequest]:
    """Within the block a stop signal only sets the returned flag; the previous handlers come back after.
    Outside the main thread (signals cannot be caught there) the flag simply never gets set."""
    request = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request
        return

    def handle(signum, frame):
        # SLURM signals every process of the job step, and Snakemake passes its own SIGTERM on to the script:
        # the signal comes more than once, and only the first one counts
        if request.signal is None:
            log.warning("received %s: stopping after this epoch's checkpoint", signal.Signals(signum).name)
            request.signal = signum

    previous = {sig: signal.signal(sig, handle) for sig in signals}
    try:
        yield request
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
