"""Sub-quadratic incoherent dedispersion: the fast dispersion measure transform (FDMT, Zackay & Ofek 2017),
pruned to the DM trials searched, with a brute-force reference.

Convention (both transforms): data (nchans, nt) float32, channel-major, channel 0 the highest frequency;
the dedispersed series of trial m is out[m, t] = sum_c data[c, t + delay[m, c]], t the arrival time at the
centre of channel 0, delays in samples (>= 0) relative to that channel; samples past the end count as 0, so
out[m, t] is whole only for t < nt - max(delay[m]).

FDMT splits the band in two halves, recursively down to single channels. A subband's table holds, for each
integer delay j across it (top to bottom channel centre), the sum of its channels along a sweep of that
delay; a merged subband's row j is row round(j r_A) of its upper half plus row j - round(j r_B) of its lower
half shifted by round(j r_B), r_A and r_B being the fractions of the sweep (cold-plasma f^-2 law) from its
top to the bottom of the upper half and to the top of the lower half. The root holds only the delays of the
DM trials and each subband only the rows its parent reads, so the cost is about nt x (rows summed over the
tree) instead of nt x n_trials x nchans. The approximation: each channel's delay is the sum of rounded
pieces, not the rounded exact delay; `channel_delays` gives the delays the transform really applies (at most
a sample or two from the exact ones: the tests check the bound on the search's bands).
"""

from __future__ import annotations

import math
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from twins.pulsar.dispersion import DISPERSION_CONSTANT_MS

BLOCK_SAMPLES = 8192  # output samples per piece: a piece's tables then stay (mostly) in the cache


def _round(x: np.ndarray) -> np.ndarray:
    """Round half up (the same on every platform) to int64."""
    return np.floor(np.asarray(x, dtype=np.float64) + 0.5).astype(np.int64)


@dataclass
class FdmtNode:
    """A subband: channels lo..hi-1; keys: the delays (samples, ascending) its table holds; for a merged
    subband, row r of its table is upper.table[ia[r]] + lower.table[ib[r]] shifted by shift[r] samples."""

    lo: int
    hi: int
    keys: np.ndarray
    upper: FdmtNode | None = None
    lower: FdmtNode | None = None
    ia: np.ndarray | None = None
    ib: np.ndarray | None = None
    shift: np.ndarray | None = None

    def __post_init__(self):
        # (row of upper, row of lower, shift) per row as Python ints: the merge loop runs once per row and piece
        self.merges = [] if self.ia is None else list(zip(self.ia.tolist(), self.ib.tolist(), self.shift.tolist()))
        self.max_shift = 0 if self.shift is None else int(self.shift.max())


@dataclass
class FdmtPlan:
    """The pruned FDMT of `dms` (pc cm^-3) for channel centres `freqs_mhz` (descending) at `sample_s` s.
    rows[m]: the root table row of trial m; rows_summed: additions per output sample (the cost)."""

    freqs_mhz: np.ndarray
    dms: np.ndarray
    sample_s: float
    root: FdmtNode
    rows: np.ndarray
    rows_summed: int
    workspaces: dict = field(default_factory=dict, repr=False, compare=False)  # (thread, length) -> _Workspace

    @property
    def max_delay(self) -> int:
        """Largest delay (samples) across the band among the trials."""
        return int(self.root.keys.max())


def exact_delays(freqs_mhz: np.ndarray, dms: np.ndarray, sample_s: float) -> np.ndarray:
    """Cold-plasma delays (n_dms, nchans), rounded to samples, of every channel relative to channel 0."""
    inv2 = (np.asarray(freqs_mhz, dtype=np.float64) / 1e3) ** -2
    seconds = DISPERSION_CONSTANT_MS * 1e-3 * np.outer(dms, inv2 - inv2[0])
    return _round(seconds / sample_s)


def _unique(x: list[int]) -> tuple[list[int], list[int]]:
    """(values, inverse) as np.unique(x, return_inverse=True), in plain Python: a plan has hundreds of mostly
    tiny subbands, on which numpy's per-call overhead made planning a tenth of a search."""
    values = sorted(set(x))
    index = {v: i for i, v in enumerate(values)}
    return values, [index[v] for v in x]


def _build(lo: int, hi: int, keys: list[int], inv2: list[float]) -> tuple[FdmtNode, int]:
    if hi - lo == 1:
        if keys != [0]:
            raise AssertionError(f"FDMT: channel {lo} asked for delays {keys} within itself")
        return FdmtNode(lo, hi, np.zeros(1, dtype=np.int64)), 0
    mid = lo + (hi - lo + 1) // 2
    span, r_a, r_b = inv2[hi - 1] - inv2[lo], inv2[mid - 1] - inv2[lo], inv2[mid] - inv2[lo]
    # float64 as _round: the same delays as the vectorised form
    ja = [math.floor(k * r_a / span + 0.5) for k in keys]
    shift = [math.floor(k * r_b / span + 0.5) for k in keys]
    upper_keys, ia = _unique(ja)
    lower_keys, ib = _unique([k - s for k, s in zip(keys, shift)])
    upper, n_upper = _build(lo, mid, upper_keys, inv2)
    lower, n_lower = _build(mid, hi, lower_keys, inv2)
    arrays = (np.asarray(v, dtype=np.int64) for v in (keys, ia, ib, shift))
    return FdmtNode(lo, hi, next(arrays), upper, lower, *arrays), n_upper + n_lower + len(keys)


def plan_fdmt(freqs_mhz: np.ndarray, dms: np.ndarray, sample_s: float) -> FdmtPlan:
    """The pruned FDMT for channel centres `freqs_mhz` (MHz, strictly descending) and DM trials `dms`."""
    freqs = np.asarray(freqs_mhz, dtype=np.float64)
    if len(freqs) < 2 or np.any(np.diff(freqs) >= 0):
        raise ValueError("plan_fdmt: needs >= 2 channel frequencies in descending order (channel 0 the highest)")
    inv2 = (freqs / 1e3) ** -2
    total = _round(np.asarray(dms, dtype=np.float64) * DISPERSION_CONSTANT_MS * 1e-3 * (inv2[-1] - inv2[0]) / sample_s)
    keys, rows = np.unique(total, return_inverse=True)
    root, summed = _build(0, len(freqs), keys.tolist(), inv2.tolist())
    return FdmtPlan(freqs, np.asarray(dms, dtype=np.float64), float(sample_s), root, rows.reshape(-1), summed)


class _Workspace:
    """One thread's tables for pieces of `length` output samples: a subband at depth d of the tree, the upper
    (side 0) or lower (side 1) half of its parent, writes its table into buffers[(d, side)], which its children
    (at depth d + 1) do not touch, so the recursion needs one buffer per depth and side, reused for every piece
    and chunk (fresh arrays per piece cost page faults). Merges whose inputs are both tables are prebuilt as
    lists of row views (added by one map); those reading channels (leaves) are made per piece from its data."""

    def __init__(self, root: FdmtNode, length: int):
        self.length, shapes, order = length, {}, []
        self.lock = threading.Lock()  # a plan shared by concurrent searches: one user of the buffers at a time

        def walk(node: FdmtNode, key: tuple[int, int], extra: int) -> None:
            if node.upper is None:
                return
            walk(node.upper, (key[0] + 1, 0), extra)
            walk(node.lower, (key[0] + 1, 1), extra + node.max_shift)
            order.append((node, key, length + extra))
            rows, cols = shapes.get(key, (0, 0))
            shapes[key] = (max(rows, len(node.keys)), max(cols, length + extra))

        walk(root, (0, 0), 0)
        order.pop()  # the root writes into the output
        self.buffers = {key: np.empty(shape, dtype=np.float32) for key, shape in shapes.items()}
        self.steps = []
        for node, key, n in order:
            if node.upper.upper is None or node.lower.upper is None:
                self.steps.append((node, key, n))
            else:
                self.steps.append(self._views(node, key, n, None, 0))

    def _child(self, child: FdmtNode, key: tuple[int, int], data, start: int) -> np.ndarray:
        return data[child.lo : child.lo + 1, start:] if child.upper is None else self.buffers[key]

    def _views(self, node: FdmtNode, key: tuple[int, int], n: int, data, start: int) -> tuple[list, list, list]:
        upper = self._child(node.upper, (key[0] + 1, 0), data, start)
        lower = self._child(node.lower, (key[0] + 1, 1), data, start)
        out = [self.buffers[key][r, :n] for r in range(len(node.merges))] if key[0] else None
        return [upper[a, :n] for a, _, _ in node.merges], [lower[b, s : s + n] for _, b, s in node.merges], out

    def run(self, root: FdmtNode, rows: np.ndarray, data: np.ndarray, start: int, out: np.ndarray) -> None:
        """out[:, start:start + length] of `data` (nchans, >= start + length + max_delay)."""
        for step in self.steps:
            if isinstance(step[0], FdmtNode):
                step = self._views(*step, data, start)
            list(map(np.add, *step))
        upper, lower, _ = self._views(root, (0, 0), self.length, data, start)
        rows = rows.tolist()
        stop = start + self.length
        list(map(np.add, [upper[r] for r in rows], [lower[r] for r in rows], [o[start:stop] for o in out]))


def _workspace(plan: FdmtPlan, worker: int, length: int) -> _Workspace:
    key = (worker, length)
    if key not in plan.workspaces:
        if len(plan.workspaces) > 8:  # lengths vary only with the stream's end: keep a few
            plan.workspaces.clear()
        plan.workspaces[key] = _Workspace(plan.root, length)
    return plan.workspaces[key]


def fdmt_transform(data: np.ndarray, plan: FdmtPlan, threads: int = 1, block: int = BLOCK_SAMPLES) -> np.ndarray:
    """Dedispersed series (n_dms, nt - plan.max_delay) float32 of `data` (nchans, nt): only the whole sums
    (pad `data` with max_delay samples of zeros for partial sums at its end).

    The output is made in pieces of `block` samples (each needs `block` + max_delay input samples; the last
    ends at the output's end, overlapping the one before), so that the tables of a piece stay in the cache;
    with `threads` > 1 the pieces are shared among that many threads. Every output sample is the same sum
    whatever `block` and `threads` are.
    """
    if data.shape[0] != len(plan.freqs_mhz):
        raise ValueError(f"fdmt_transform: data has {data.shape[0]} channels, the plan {len(plan.freqs_mhz)}")
    n_out = data.shape[1] - plan.max_delay
    if n_out <= 0:
        raise ValueError(f"fdmt_transform: {data.shape[1]} samples do not exceed the sweep of {plan.max_delay}")
    return fdmt_transform_into(data, plan, np.empty((len(plan.dms), n_out), dtype=np.float32), threads, block)


def fdmt_transform_into(data: np.ndarray, plan: FdmtPlan, out: np.ndarray, threads: int = 1, block=BLOCK_SAMPLES):
    """fdmt_transform writing into `out` (n_dms, nt - plan.max_delay) float32 (rows may be strided); returns it."""
    data = np.asarray(data, dtype=np.float32)  # rows may be strided (a slice of a longer block); samples not
    n_out = data.shape[1] - plan.max_delay
    if out.shape != (len(plan.dms), n_out) or n_out <= 0:
        raise ValueError(f"fdmt_transform_into: out has shape {out.shape}, not {(len(plan.dms), n_out)}")
    length = min(block, n_out)
    starts = list(range(0, n_out - length, length)) + [n_out - length]
    workers = max(1, min(threads, len(starts)))

    def work(worker: int) -> None:
        space = _workspace(plan, worker, length)
        with space.lock:
            for start in starts[worker::workers]:
                space.run(plan.root, plan.rows, data, start, out)

    if workers == 1:
        work(0)
    else:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(work, range(workers)))
    return out


def _node_delays(node: FdmtNode) -> np.ndarray:
    if node.upper is None:
        return np.zeros((1, 1), dtype=np.int64)
    upper = _node_delays(node.upper)[node.ia]
    lower = _node_delays(node.lower)[node.ib] + node.shift[:, None]
    return np.concatenate([upper, lower], axis=1)


def channel_delays(plan: FdmtPlan) -> np.ndarray:
    """The delays (n_dms, nchans) in samples that the FDMT applies to each channel for each trial."""
    return _node_delays(plan.root)[plan.rows]


def brute_force_dedisperse(data: np.ndarray, delays: np.ndarray) -> np.ndarray:
    """Reference dedispersion: out[m, t] = sum_c data[c, t + delays[m, c]] (n_dms, nt), float64, zero past the
    end; data (nchans, nt), delays (n_dms, nchans) >= 0 samples. Costs nt x n_dms x nchans additions."""
    nchans, nt = data.shape
    out = np.zeros((delays.shape[0], nt), dtype=np.float64)
    for m, row in enumerate(np.asarray(delays, dtype=np.int64)):
        for c, d in enumerate(row.tolist()):
            if d < nt:
                out[m, : nt - d] += data[c, d:]
    return out
