"""A YAML mapping has no order: a scenario is the same whatever order its keys are written in.

Draws are keyed by names, never by positions (DESIGN.md): the counter of an
act's observation, appeal, repair or camera dodge is the behaviour's name id,
so the same scenario with its mappings reversed, or written back with
`yaml.safe_dump` (which sorts keys), gives the same run folder byte for byte,
and a behaviour added to a scenario leaves the draws of the others alone.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

import scoresim
from scoresim.scenario import load_scenario

SIZE = {"agents": 6_000, "days": 120, "seed": 17, "records": "all"}
VOLATILE = {"started", "wall_seconds", "timings"}


def _reversed(node):
    """Every mapping's keys in the reverse order, all the way down."""
    if isinstance(node, dict):
        return {k: _reversed(node[k]) for k in reversed(list(node))}
    if isinstance(node, list):
        return [_reversed(v) for v in node]
    return node


def _raw(name: str) -> dict:
    from scoresim.scenario.loader import builtin_text, read_yaml

    data, _ = read_yaml(builtin_text(name), name)
    return data


def _same_folders(a: Path, b: Path) -> None:
    files = sorted(p.name for p in a.iterdir())
    assert files == sorted(p.name for p in b.iterdir())
    for name in files:
        if name == "manifest.json":
            ma, mb = (json.loads((f / name).read_text()) for f in (a, b))
            for key in VOLATILE:
                ma.pop(key), mb.pop(key)
            assert ma == mb
            assert list(ma["scenario"]) == list(mb["scenario"])
        else:
            assert (a / name).read_bytes() == (b / name).read_bytes(), name


@pytest.mark.parametrize("name", ["pilot-city", "china"])
def test_reversed_mappings_give_the_same_run_folder(name: str, tmp_path: Path) -> None:
    raw = _raw(name)
    backwards = _reversed(raw)
    assert list(backwards["behaviours"]) == list(reversed(list(raw["behaviours"])))
    scoresim.run(raw, out=tmp_path / "a", **SIZE)
    scoresim.run(backwards, out=tmp_path / "b", **SIZE)
    _same_folders(tmp_path / "a", tmp_path / "b")


def test_a_scenario_written_back_with_sorted_keys_runs_the_same(tmp_path: Path) -> None:
    text = yaml.safe_dump(_raw("pilot-city"), sort_keys=True)
    path = tmp_path / "sorted.yaml"
    path.write_text(text)
    scoresim.run("pilot-city", out=tmp_path / "a", **SIZE)
    scoresim.run(str(path), out=tmp_path / "b", **SIZE)
    _same_folders(tmp_path / "a", tmp_path / "b")


def test_mappings_are_held_in_name_order() -> None:
    s = load_scenario(_reversed(_raw("pilot-city")))
    for mapping in (s.behaviours, s.channels, s.face_recognition, s.population.attributes,
                    s.credit_file.categories, s.scoring.points):
        assert list(mapping) == sorted(mapping)


def test_a_new_behaviour_leaves_the_others_draws_alone() -> None:
    """`aardvark_watching` sorts first, so every other behaviour's position moves by one;
    with draws keyed by names, every record of the others is the same."""
    base = scoresim.run("reference", agents=20_000, days=200, seed=3, records="all")
    more = scoresim.run("reference", agents=20_000, days=200, seed=3, records="all",
                        set={"behaviours.aardvark_watching": {"rate": 0.05}})
    assert list(more.scenario["behaviours"])[0] == "aardvark_watching"

    def records(r):
        df = r.records.astype({"behaviour": str, "channel": str, "error": str,
                               "category": str})
        return df.sort_values(["day", "subject", "behaviour"]).reset_index(drop=True)

    a, b = records(base), records(more)
    assert len(a) > 10_000
    pd.testing.assert_frame_equal(a, b)
    people = ["score", "grade", "false_points", "travel_banned", "listed", "wrongly_banned"]
    pd.testing.assert_frame_equal(base.people[people], more.people[people])
    for col in base.timeseries.columns:
        if col != "n_events":
            pd.testing.assert_series_equal(base.timeseries[col], more.timeseries[col])
    assert more.timeseries["n_events_aardvark_watching"].sum() > 0
