"""ROOT layouts: write, describe and stream a tree; damaged or foreign files are named."""

import numpy as np
import pytest

from twins.core.io import InputFileError
from twins.core.rootio import RootLayout, iterate_tree, read_metadata, write_tree

LAYOUT = RootLayout(
    tree="events",
    branches={"energy": "f8", "kind": "i4", "cells": "f4"},
    metadata=("detector",),
    title="test events",
    writer="test_simulate",
)


def test_round_trip_in_steps(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {"energy": rng.random(7), "kind": np.arange(7), "cells": rng.random((7, 2, 3)).astype(np.float32)}
    write_tree(tmp_path / "a.root", LAYOUT, arrays, {"detector": {"pads": 3}}, {"step": "test"})
    meta = read_metadata(tmp_path / "a.root", LAYOUT)
    assert meta["detector"] == {"pads": 3} and meta["provenance"] == {"step": "test"} and meta["entries"] == 7
    chunks = list(iterate_tree(tmp_path / "a.root", LAYOUT, step_size=3))
    assert [len(c["energy"]) for c in chunks] == [3, 3, 1]
    np.testing.assert_array_equal(np.concatenate([c["cells"] for c in chunks]), arrays["cells"])


def test_missing_branch_or_damage_names_file_and_writer(tmp_path):
    other = RootLayout(tree="events", branches={"energy": "f8"}, metadata=("detector",), title="", writer="x")
    write_tree(tmp_path / "b.root", other, {"energy": np.ones(2)}, {"detector": {}}, {})
    with pytest.raises(InputFileError, match=r"lacks branch\(es\) \['kind', 'cells'\]"):
        read_metadata(tmp_path / "b.root", LAYOUT)
    (tmp_path / "c.root").write_bytes((tmp_path / "b.root").read_bytes()[:300])
    with pytest.raises(InputFileError, match="c.root.*rerun test_simulate"):
        read_metadata(tmp_path / "c.root", LAYOUT)
    with pytest.raises(ValueError, match=r"nothing given for \['kind', 'cells'\]"):
        write_tree(tmp_path / "d.root", LAYOUT, {"energy": np.ones(2)}, {"detector": {}}, {})
    assert not (tmp_path / "d.root").exists()
