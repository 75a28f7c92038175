"""Real-time single-pulse search of a filterbank stream (as heimdall and `your` do): chunk, excise, dedisperse
with the pruned FDMT per decimation level, boxcar-filter, threshold, cluster.

Per chunk (start, block): excision.excise (per-channel robust normalisation, channel flags, zero-DM clipping);
for each level of the dedispersion plan the cleaned block is decimated by the level's factor and
dedispersed (fdmt.fdmt_transform); every DM series has a running baseline (BASELINE_S) removed and is
boxcar-filtered (cumulative sums) at the level's widths; S/N = (boxcar sum - median) / (1.4826 MAD) of that
boxcar series over the chunk, so real, non-Gaussian noise sets its own scale. Boxcar starts above
`snr_threshold` are detections (a run of consecutive starts of one trial and width keeps its peak). Chunks
overlap by the plan's overlap but each searches only the boxcar starts up to the next chunk's start, so every
detection is made once; detections are then joined friends-of-friends across chunks (heimdall's
clustering): linked when their DM trials are adjacent and their samples within cluster_time_widths times the
wider boxcar. A candidate is the peak-S/N member of a cluster.

Candidate columns: sample (the original-sampling index, in the whole stream, of the arrival at the centre of
the highest-frequency channel: the centre of the best boxcar), time_s = sample * tsamp, dm (pc cm^-3),
width (boxcar width, original samples), width_s, snr, members (detections in the cluster), dm_low, dm_high.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import torch
from scipy import ndimage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from twins.core.config import resolve
from twins.pulsar.dedispersion_plan import DedispersionLevel, DedispersionPlan, make_plan
from twins.pulsar.excision import excise_decimated
from twins.pulsar.fdmt import FdmtPlan, fdmt_transform_into, plan_fdmt
from twins.pulsar.filterbank import Filterbank
from twins.pulsar.normalisation import MAD_TO_SIGMA
from twins.pulsar.stream import iter_chunks, stream_header

PLAN_KEYS = ("dm_min", "dm_max", "dm_tolerance", "min_width_s", "max_width_s", "chunk_seconds")
HEADER_KEYS = {"tsamp": "sampling time, s", "fch1": "channel 0 centre, MHz", "foff": "channel step, MHz"}
BASELINE_S = 2.0  # running-baseline window taken off every DM series (heimdall's baseline length): slow drifts out
BASELINE_BLOCKS = 8  # the baseline is a running median of block means, BASELINE_BLOCKS blocks per window
STEP_DIVISOR = 4  # a boxcar of w samples is screened every max(1, w // 4) samples (then refined)
STAT_SAMPLES = 4096  # boxcar values (evenly strided) the median and MAD of a series are measured on
COLUMNS = ["sample", "time_s", "dm", "width", "width_s", "snr", "members", "dm_low", "dm_high"]
STAGES = ("read", "excise", "dedisperse", "boxcar", "cluster")


@dataclass(frozen=True)
class SearchPlan:
    """Everything fixed before the data: settings (pulsar.search, schema defaults filled), the stream's channel order
    (descending: foff < 0; blocks and flags in ascending order are reversed), the dedispersion plan and one
    FDMT per level, chunk_samples (a multiple of the largest decimation) and overlap (original samples)."""

    settings: dict
    nchans: int
    tsamp: float
    descending: bool
    dedispersion: DedispersionPlan
    fdmt: tuple[FdmtPlan, ...]
    chunk_samples: int
    overlap: int

    @property
    def link_samples(self) -> int:
        """Largest friends-of-friends time link (original samples)."""
        widest = max(int(level.widths_original.max()) for level in self.dedispersion.levels)
        return int(np.ceil(self.settings["cluster_time_widths"] * widest))


@dataclass
class SearchResult:
    """candidates (DataFrame, COLUMNS, by sample), the plan, excision statistics (chunks, clipped_fraction of the
    searched samples, mean flagged_fraction, channel_flags: (nchans,) bool in file order, flagged in any
    chunk), timing (wall seconds per stage, STAGES, on the calling thread: with threads > 1 the boxcars
    run beside the next level's dedispersion and 'boxcar' counts only the wait for them), samples searched,
    detections (before clustering)."""

    candidates: pd.DataFrame
    plan: SearchPlan
    excision: dict
    timing: dict
    samples: int
    detections: int = field(default=0)


def _settings(settings: dict | None) -> dict:
    merged = resolve("pulsar.search", settings)  # the schema's defaults and checks
    return merged


def plan_search(header: dict, settings: dict | None = None, nsamples: int | None = None) -> SearchPlan:
    """The SearchPlan for a stream with SIGPROC `header` (tsamp s, fch1/foff MHz, nchans); `nsamples` (when
    known) clamps dm_max to what the stream can reach."""
    missing = [f"'{k}' ({what})" for k, what in HEADER_KEYS.items() if k not in header]
    if missing or "nchans" not in header:
        raise ValueError(f"plan_search: the header lacks {missing + (['nchans'] if 'nchans' not in header else [])}")
    s = _settings(settings)
    nchans, tsamp, fch1, foff = (
        int(header["nchans"]),
        float(header["tsamp"]),
        float(header["fch1"]),
        float(header["foff"]),
    )
    if foff == 0 or tsamp <= 0:
        raise ValueError(f"plan_search: header foff = {foff} MHz and tsamp = {tsamp} s must be non-zero/positive")
    f_top = fch1 if foff < 0 else fch1 + foff * (nchans - 1)
    dd = make_plan(
        f_top, abs(foff), nchans, tsamp, s["dm_min"], s["dm_max"], s["dm_tolerance"], s["min_width_s"],
        s["max_width_s"], nsamples,
    )  # fmt: skip
    fdmt = tuple(plan_fdmt(dd.frequencies_mhz, level.dms, level.factor * tsamp) for level in dd.levels)
    chunk = int(np.ceil(s["chunk_seconds"] / tsamp / dd.max_factor)) * dd.max_factor
    return SearchPlan(s, nchans, tsamp, foff < 0, dd, fdmt, chunk, dd.overlap)


def _detrend(series: np.ndarray, window: int, out: np.ndarray | None = None) -> np.ndarray:
    """series (n_dm, n) minus a running baseline, float32 (into `out`, which may be `series`): the median, over
    BASELINE_BLOCKS + 1 blocks of window / BASELINE_BLOCKS samples, of the block means (a pulse, shorter than a
    block, barely moves it), constant within each block; a series shorter than three blocks loses its median
    only."""
    n_dm, n = series.shape
    block = max(1, window // BASELINE_BLOCKS)
    n_blocks = n // block
    out = np.empty_like(series, dtype=np.float32) if out is None else out
    if n_blocks < 3:
        np.subtract(series, _lower_median(series[:, :: max(1, n // STAT_SAMPLES)])[:, None], out=out)
        return out
    means = series[:, : n_blocks * block].reshape(n_dm, n_blocks, block).mean(axis=2)
    base = ndimage.median_filter(means, size=(1, BASELINE_BLOCKS + 1), mode="nearest").astype(np.float32)
    for i in range(n_blocks):
        stop = n if i == n_blocks - 1 else (i + 1) * block
        np.subtract(series[:, i * block : stop], base[:, i : i + 1], out=out[:, i * block : stop])
    return out


def _running_sums(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """(n_dm, n + 1) float32 running sums of x (n_dm, n) from 0 (torch's cumsum: several times numpy's speed)."""
    csum = np.empty((x.shape[0], x.shape[1] + 1), dtype=np.float32) if out is None else out
    csum[:, 0] = 0.0
    torch.cumsum(torch.from_numpy(np.ascontiguousarray(x)), dim=1, out=torch.from_numpy(csum)[:, 1:])
    return csum


def _peaks_of_runs(rows: np.ndarray, cols: np.ndarray, snr: np.ndarray) -> np.ndarray:
    """Indices of the peak S/N of each run of consecutive `cols` within one row (input sorted by row, col)."""
    if len(rows) == 0:
        return np.zeros(0, dtype=np.int64)
    new = np.ones(len(rows), dtype=bool)
    new[1:] = (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1] + 1)
    run = np.cumsum(new)
    order = np.lexsort((-snr, run))
    first = np.ones(len(order), dtype=bool)
    first[1:] = run[order][1:] != run[order][:-1]
    return np.sort(order[first])


def _lower_median(x: np.ndarray) -> np.ndarray:
    """Median along the last axis (the lower one for even lengths): one partition, faster than np.median."""
    k = (x.shape[-1] - 1) // 2
    return np.partition(x, k, axis=-1)[..., k]


def _width_detections(csum: np.ndarray, w: int, n_pos: int, threshold: float, workspace: dict):
    """(row, start, snr) of boxcar width `w` over the series whose running sums are `csum` (n_dm, n + 1), one per
    run of consecutive above-threshold starts of a row, for starts 0 .. n_pos - 1.

    Starts are tried every step = max(1, w // STEP_DIVISOR) samples (a pulse between two loses at most
    (step // 2) / w of its sum), screened at the threshold lowered by that much, and each start screened in is
    refined at full resolution within a step of it: the full-resolution S/N at a fraction of the cost.
    """
    step = max(1, w // STEP_DIVISOR)
    box = _buffer(workspace, "box", (csum.shape[0], -(-n_pos // step)))
    np.subtract(csum[:, w : w + n_pos : step], csum[:, 0:n_pos:step], out=box)
    sample = box[:, :: max(1, box.shape[1] // STAT_SAMPLES)]
    centre = _lower_median(sample)
    sigma = MAD_TO_SIGMA * _lower_median(np.abs(sample - centre[:, None]))
    sigma = np.where(sigma > 0, sigma, np.inf)
    screen = centre + threshold * sigma * (1 - (step // 2) / w)
    hot = np.flatnonzero(box.max(axis=1) > screen)
    if not hot.size:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0)
    rows, cols = np.nonzero(box[hot] > screen[hot, None])
    rows = hot[rows]
    starts = np.clip(cols[:, None] * step + np.arange(1 - step, step)[None, :], 0, n_pos - 1)
    values = csum[rows[:, None], starts + w] - csum[rows[:, None], starts]
    best = values.argmax(axis=1)
    snr = (values[np.arange(len(rows)), best] - centre[rows]) / sigma[rows]
    keep = _peaks_of_runs(rows, cols, snr)
    keep = keep[snr[keep] > threshold]
    return rows[keep], starts[keep, best[keep]], snr[keep]


def boxcar_detections(series: np.ndarray, widths: np.ndarray, n_pos: int, threshold: float, baseline: int):
    """Detections in DM series (n_dm, n) float32 for boxcar starts 0 .. n_pos - 1 (n >= n_pos + max(widths)):
    the running baseline (`baseline` samples) off, then every width (_width_detections).

    Returns (row, start, width, snr) arrays, one entry per run of above-threshold starts of one row and width.
    """
    return _boxcars(series, widths, n_pos, threshold, baseline, {}, in_place=False)


def _boxcars(series, widths, n_pos: int, threshold: float, baseline: int, workspace: dict, in_place: bool):
    """boxcar_detections with its work arrays kept in `workspace` and, if `in_place`, `series` detrended in
    place."""
    detrended = _detrend(series, baseline, series if in_place else None)
    csum = _running_sums(detrended, _buffer(workspace, "csum", (series.shape[0], series.shape[1] + 1)))
    found = []
    for w in widths.tolist():
        rows, starts, snr = _width_detections(csum, w, n_pos, threshold, workspace)
        found.append((rows, starts, np.full(len(rows), w), snr))
    return tuple(np.concatenate([f[i] for f in found]) for i in range(4))


def _level_boxcars(series: np.ndarray, level: DedispersionLevel, n_pos: int, plan: SearchPlan, workspace: dict):
    """Detections of one level's DM series (n_dm, n) for boxcar starts 0 .. n_pos - 1: (dm index, sample, width,
    snr), samples and widths in original samples relative to the chunk (sample: the centre of the boxcar).
    `series` is overwritten (detrended in place)."""
    baseline = max(1, int(round(BASELINE_S / (level.factor * plan.tsamp))))
    threshold = float(plan.settings["snr_threshold"])
    rows, start, w, snr = _boxcars(series, level.widths, n_pos, threshold, baseline, workspace, in_place=True)
    sample = np.floor((start + w / 2) * level.factor).astype(np.int64)
    return level.first + rows, sample, w * level.factor, snr


def _buffer(workspace: dict, key, shape: tuple) -> np.ndarray:
    """A C-contiguous float32 array of `shape` on memory kept in `workspace[key]` across chunks and levels (grown
    when too small): fresh memory costs page faults every time, which on a VM cost as much as the arithmetic."""
    size = int(np.prod(shape))
    if key not in workspace or workspace[key].size < size:
        workspace[key] = np.empty(size, dtype=np.float32)
    return workspace[key][:size].reshape(shape)


def _decimate(x_cm: np.ndarray, factor: int, workspace: dict) -> np.ndarray:
    """Sum `factor` (a power of 2) consecutive samples of channel-major x_cm (nchans, n), n a multiple of it."""
    while factor > 1:
        half = _buffer(workspace, x_cm.shape[1] // 2, (x_cm.shape[0], x_cm.shape[1] // 2))
        x_cm = np.add(x_cm[:, 0::2], x_cm[:, 1::2], out=half)
        factor //= 2
    return x_cm


def _search_chunk(block: np.ndarray, n_valid: int, plan: SearchPlan, flags, threads: int, timing, workspace):
    """Detections (dm index, sample, width, snr; samples relative to the block) with boxcar starts in the first
    `n_valid` samples of `block` (file channel order), and the block's Excision."""
    s = plan.settings
    t0 = time.perf_counter()
    if not plan.descending:
        block = block[:, ::-1]
        flags = None if flags is None else np.asarray(flags)[::-1]
    levels = plan.dedispersion.levels
    # the levels read n_valid + overlap samples; past the stream's end they are zeros (the noise mean)
    n = -(-(n_valid + plan.overlap) // plan.dedispersion.max_factor) * plan.dedispersion.max_factor
    factor = levels[0].factor
    buffer = _buffer(workspace, "excised", (plan.nchans, n // factor))
    level_rows = int(round(s["level_seconds"] / plan.tsamp)) if s["level_seconds"] else None
    x_cm, excision = excise_decimated(
        block, factor, n // factor, s["clip_sigma"], flags, s["flag_statistics"], s["flag_threshold"], threads,
        buffer, level_rows,
    )  # fmt: skip
    timing["excise"] += time.perf_counter() - t0
    # with threads, one thread filters a level's series while the main one dedisperses the next: the FDMT's
    # many short additions gain nothing from a second thread, and the boxcars' long ones overlap them
    pool = ThreadPoolExecutor(1) if threads > 1 else None
    found = []
    try:
        for level, fdmt in zip(levels, plan.fdmt):
            t0 = time.perf_counter()
            x_cm = _decimate(x_cm, level.factor // factor, workspace)
            factor = level.factor
            n_pos = -(-n_valid // factor)
            n_in = min(x_cm.shape[1], n_pos + fdmt.max_delay + int(level.widths.max()) + 1)
            series = _buffer(workspace, ("series", level.factor), (len(level.dms), n_in - fdmt.max_delay))
            fdmt_transform_into(x_cm[:, :n_in], fdmt, series)
            t1 = time.perf_counter()
            timing["dedisperse"] += t1 - t0
            if pool is None:
                found.append(_level_boxcars(series, level, n_pos, plan, workspace))
                timing["boxcar"] += time.perf_counter() - t1
            else:
                found.append(pool.submit(_level_boxcars, series, level, n_pos, plan, workspace))
        t0 = time.perf_counter()
        found = [f if pool is None else f.result() for f in found]
        timing["boxcar"] += time.perf_counter() - t0
    finally:
        if pool is not None:
            pool.shutdown()
    return tuple(np.concatenate([f[i] for f in found]) for i in range(4)), excision


def friends_of_friends(sample: np.ndarray, dm_index: np.ndarray, width: np.ndarray, time_widths: float) -> np.ndarray:
    """Cluster label (0 ..) of every detection: linked when |dm_index difference| <= 1 and |sample difference|
    <= time_widths x the wider of the two boxcars (original samples); clusters are the connected sets."""
    n = len(sample)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    scale = max(float(time_widths) * float(width.max()), 1.0)
    tree = cKDTree(np.column_stack([sample / scale, dm_index.astype(np.float64)]))
    pairs = tree.query_pairs(1.0 + 1e-9, p=np.inf, output_type="ndarray")
    i, j = pairs[:, 0], pairs[:, 1]
    linked = np.abs(sample[i] - sample[j]) <= time_widths * np.maximum(width[i], width[j])
    graph = coo_matrix((np.ones(int(linked.sum())), (i[linked], j[linked])), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def _candidates(det: dict, labels: np.ndarray, plan: SearchPlan) -> pd.DataFrame:
    """One row per cluster: its peak-S/N member (ties: earliest sample, lowest DM), member count, DM extent."""
    dms = plan.dedispersion.dms
    order = np.lexsort((det["dm_index"], det["sample"], -det["snr"], labels))
    first = np.ones(len(order), dtype=bool)
    first[1:] = labels[order][1:] != labels[order][:-1]
    peak = order[first]
    members = np.bincount(labels)
    low = np.full(len(members), len(dms))
    high = np.zeros(len(members), dtype=np.int64)
    np.minimum.at(low, labels, det["dm_index"])
    np.maximum.at(high, labels, det["dm_index"])
    table = pd.DataFrame(
        {
            "sample": det["sample"][peak].astype(np.int64),
            "time_s": det["sample"][peak] * plan.tsamp,
            "dm": dms[det["dm_index"][peak]],
            "width": det["width"][peak].astype(np.int64),
            "width_s": det["width"][peak] * plan.tsamp,
            "snr": det["snr"][peak].astype(np.float64),
            "members": members[labels[peak]].astype(np.int64),
            "dm_low": dms[low[labels[peak]]],
            "dm_high": dms[high[labels[peak]]],
        },
        columns=COLUMNS,
    )
    return table


class _Clusters:
    """Detections waiting for clustering; clusters that no later detection can join are emitted."""

    def __init__(self, plan: SearchPlan):
        self.plan = plan
        self.pending = {k: np.zeros(0, dtype=t) for k, t in (("dm_index", int), ("sample", int), ("width", int))}
        self.pending["snr"] = np.zeros(0)
        self.emitted: list[pd.DataFrame] = []
        self.count = 0

    def add(self, dm_index, sample, width, snr) -> None:
        new = {"dm_index": dm_index, "sample": sample, "width": width, "snr": snr}
        self.pending = {k: np.concatenate([self.pending[k], new[k]]) for k in self.pending}
        self.count += len(sample)

    def flush(self, horizon: float | None = None) -> None:
        """Emit the clusters whose every member lies before `horizon` (None: all)."""
        det = self.pending
        if len(det["sample"]) == 0:
            return
        labels = friends_of_friends(
            det["sample"], det["dm_index"], det["width"], self.plan.settings["cluster_time_widths"]
        )
        last = np.full(labels.max() + 1, np.iinfo(np.int64).min)
        np.maximum.at(last, labels, det["sample"])
        done = last[labels] < (np.inf if horizon is None else horizon)
        if done.any():
            chosen = {k: v[done] for k, v in det.items()}
            _, relabelled = np.unique(labels[done], return_inverse=True)
            self.emitted.append(_candidates(chosen, relabelled.reshape(-1), self.plan))
        self.pending = {k: v[~done] for k, v in det.items()}

    def table(self) -> pd.DataFrame:
        if not self.emitted:
            return pd.DataFrame({c: pd.Series(dtype=float) for c in COLUMNS})
        table = pd.concat(self.emitted, ignore_index=True)
        return table.sort_values(["sample", "dm"], kind="stable").reset_index(drop=True)


def _with_runtime_settings(plan: SearchPlan, settings: dict | None) -> SearchPlan:
    """`plan` with the settings that do not shape the plan (threshold, clipping, flags, clustering) replaced."""
    if not settings:
        return plan
    merged = _settings({**plan.settings, **settings})
    changed = [k for k in PLAN_KEYS if merged[k] != plan.settings[k]]
    if changed:
        raise ValueError(f"search_stream: settings change {changed}, which shape the plan; make it with plan_search")
    return replace(plan, settings=merged)


def search_stream(
    chunks: Iterable[tuple[int, np.ndarray]],
    plan: SearchPlan,
    settings: dict | None = None,
    channel_flags: np.ndarray | None = None,
    threads: int = 2,
) -> SearchResult:
    """Search (start_sample, block) chunks in increasing start order, as stream.iter_chunks(source,
    plan.chunk_samples, plan.overlap) gives them: each chunk searches the boxcar starts up to the next chunk's
    start (the last: to its end, the data past it taken as noise mean), so each needs the plan's overlap
    beyond that. `channel_flags` (nchans,) bool in file order are zeroed in every chunk besides those its own
    statistics flag; `threads` share the excision, the dedispersion and the boxcars (same result for any)."""
    plan = _with_runtime_settings(plan, settings)
    timing = {stage: 0.0 for stage in STAGES}
    clusters = _Clusters(plan)
    stats = {"chunks": 0, "clipped": 0, "flagged_fraction": 0.0, "channel_flags": np.zeros(plan.nchans, dtype=bool)}
    iterator, workspace = iter(chunks), {}
    t0 = time.perf_counter()
    current = next(iterator, None)
    timing["read"] += time.perf_counter() - t0
    searched = 0
    while current is not None:
        t0 = time.perf_counter()
        following = next(iterator, None)
        timing["read"] += time.perf_counter() - t0
        start, block = current
        if block.ndim != 2 or block.shape[1] != plan.nchans:
            raise ValueError(f"search_stream: chunk at sample {start} has shape {block.shape}, not (n, {plan.nchans})")
        end = start + len(block) if following is None else following[0]
        # a chunk must hold the overlap past the next one's start, unless the stream ends before that
        needed = (
            len(block)
            if following is None
            else min(end - start + plan.overlap, following[0] + len(following[1]) - start)
        )
        if not start < end <= start + len(block) or len(block) < needed:
            raise ValueError(
                f"search_stream: chunk at sample {start} ({len(block)} samples) and the next at {end} do not overlap "
                f"by {plan.overlap} samples; use stream.iter_chunks(source, plan.chunk_samples, plan.overlap)"
            )
        (dm_index, sample, width, snr), excision = _search_chunk(
            block, end - start, plan, channel_flags, threads, timing, workspace
        )
        t0 = time.perf_counter()
        clusters.add(dm_index, sample + start, width, snr)
        clusters.flush(horizon=end - plan.link_samples)
        timing["cluster"] += time.perf_counter() - t0
        flags = excision.channel_flags if plan.descending else excision.channel_flags[::-1]
        stats["chunks"] += 1
        stats["clipped"] += int(excision.clipped[: end - start].sum())
        stats["flagged_fraction"] += excision.flagged_fraction
        stats["channel_flags"] |= flags
        searched += end - start
        current = following
    t0 = time.perf_counter()
    clusters.flush()
    timing["cluster"] += time.perf_counter() - t0
    excision_stats = {
        "chunks": stats["chunks"],
        "clipped_fraction": stats["clipped"] / max(searched, 1),
        "flagged_fraction": stats["flagged_fraction"] / max(stats["chunks"], 1),
        "channel_flags": stats["channel_flags"],
    }
    return SearchResult(clusters.table(), plan, excision_stats, timing, searched, clusters.count)


def search_block(
    block: np.ndarray,
    header_or_plan: dict | SearchPlan,
    settings: dict | None = None,
    channel_flags: np.ndarray | None = None,
    threads: int = 2,
) -> SearchResult:
    """Search an in-memory (nsamples, nchans) block in the channel order of its header (foff's sign), given
    that header (a plan is made for the block's length) or a SearchPlan; sample 0 is the block's first."""
    block = np.asarray(block)
    if isinstance(header_or_plan, SearchPlan):
        plan = _with_runtime_settings(header_or_plan, settings)
    else:
        plan = plan_search(header_or_plan, settings, nsamples=block.shape[0])
    return search_stream(iter_chunks(block, plan.chunk_samples, plan.overlap), plan, None, channel_flags, threads)


def search_observation(
    fb: Filterbank, settings: dict | None = None, channel_flags: np.ndarray | None = None, threads: int = 2
) -> SearchResult:
    """Search a whole Filterbank (any channel order) chunk by chunk."""
    plan = plan_search(fb.header, settings, nsamples=fb.nsamples)
    return search_stream(iter_chunks(fb, plan.chunk_samples, plan.overlap), plan, None, channel_flags, threads)


def search_file(path, settings: dict | None = None, channel_flags: np.ndarray | None = None, threads: int = 2):
    """Search a SIGPROC file chunk by chunk through a memory map (flat memory; PSRFITS: read whole, see
    stream.iter_chunks) -> SearchResult."""
    header, nsamples = stream_header(path)
    plan = plan_search(header, settings, nsamples=nsamples)
    return search_stream(iter_chunks(path, plan.chunk_samples, plan.overlap), plan, None, channel_flags, threads)
