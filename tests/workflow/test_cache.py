"""Between-workflow caching of the simulation (`cache:` + `--cache` + SNAKEMAKE_OUTPUT_CACHE)."""

from __future__ import annotations

import pytest

from tests.helpers import make_workdir, snakemake

pytestmark = pytest.mark.workflow

SIMULATE = {"twins": ["calo"], "calo": {"simulate": {"events": 60, "chunks": 2}}}
CHUNKS = [f"results/calo/simulate/chunk_{i}.root" for i in range(2)]


def test_a_second_workflow_reuses_the_cached_simulation(tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    env = {"SNAKEMAKE_OUTPUT_CACHE": str(cache)}
    (tmp_path / "first").mkdir()
    first = make_workdir(tmp_path / "first", SIMULATE)
    snakemake(first, *CHUNKS, "--cores", "2", "--cache", "calo_simulate", "--configfile", "tiny.yaml", env=env)
    assert any(cache.iterdir()), "the first workflow stored nothing in the cache"
    assert (first / "logs/calo/simulate_0.log").stat().st_size > 0

    (tmp_path / "second").mkdir()
    second = make_workdir(tmp_path / "second", SIMULATE)
    snakemake(second, *CHUNKS, "--cores", "2", "--cache", "calo_simulate", "--configfile", "tiny.yaml", env=env)
    # taken from the cache: the simulation never ran here (Snakemake only touches its log), and the
    # files are the first workflow's
    assert (second / "logs/calo/simulate_0.log").stat().st_size == 0
    assert (second / CHUNKS[0]).is_symlink() and (second / CHUNKS[0]).resolve().parent == cache.resolve()
    for chunk in CHUNKS:
        assert (second / chunk).read_bytes() == (first / chunk).read_bytes()
    for timing in ("results/calo/simulate/chunk_0.json", "results/calo/simulate/chunk_1.json"):
        assert (second / timing).read_text() == (first / timing).read_text()

    # another seed is another simulation: no cache hit
    (tmp_path / "third").mkdir()
    third = make_workdir(tmp_path / "third", {**SIMULATE, "seed": 7})
    snakemake(third, CHUNKS[0], "--cores", "1", "--cache", "calo_simulate", "--configfile", "tiny.yaml", env=env)
    assert (third / "logs/calo/simulate_0.log").stat().st_size > 0


def test_the_cache_key_covers_the_simulator_code(monkeypatch, tmp_path):
    """calo_simulate's params carry a hash of its step and every twins module that step uses, so a changed
    simulator misses the cache (and reruns) while a change elsewhere in the library does not."""
    from twins.calo.rules import simulator_code
    from twins.core import provenance

    used = provenance.library_modules(["twins.calo.simulators"])
    assert {"twins.calo.gflash_showers", "twins.calo.primaries", "twins.calo.geant4"} <= set(used)
    before = simulator_code()
    real_module_file = provenance._module_file

    def edited(name: str, module: str):
        def module_file(candidate: str):
            path = real_module_file(candidate)
            if candidate != module:
                return path
            copy = tmp_path / f"{candidate}.py"
            copy.write_text(path.read_text() + "\n# an edit\n")
            return copy

        return module_file

    monkeypatch.setattr(provenance, "_module_file", edited("simulator", "twins.calo.gflash_showers"))
    assert simulator_code() != before
    monkeypatch.setattr(provenance, "_module_file", edited("figures", "twins.calo.figures"))
    assert simulator_code() == before
