"""Send a rule's logging, stdout and stderr to its Snakemake log file."""

from __future__ import annotations

import contextlib
import logging
import sys
from pathlib import Path

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


@contextlib.contextmanager
def to_file(path: str | Path):
    """Within the block, everything the step says goes to `path`; an exception is logged with its traceback
    before it propagates, so the Snakemake log shows why the job failed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", buffering=1) as stream:
        handler = logging.StreamHandler(stream)
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        root = logging.getLogger()
        previous_level = root.level
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        try:
            with contextlib.redirect_stdout(stream), contextlib.redirect_stderr(stream):
                yield
        except BaseException:
            logging.getLogger("twins").exception("step failed")
            raise
        finally:
            root.removeHandler(handler)
            root.setLevel(previous_level)
            # Also echo the failure on the real stderr, so it shows in the Snakemake console.
            exc = sys.exc_info()[1]
            if exc is not None:
                print(f"{type(exc).__name__}: {exc}", file=sys.__stderr__)
