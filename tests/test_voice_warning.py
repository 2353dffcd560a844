"""The crossing's voice warning: a captured person told to step back who does leaves no record.

On `reference` (no responses, so that nothing a record does feeds back into what
people do): a warning with probability 0 is the same run as none; the share who
step back is the probability within its binomial error; the other channels'
records are untouched and the warning camera's records are a subset of those
made without it (the warning's draw has its own key, so no other draw moves).
"""

from __future__ import annotations

import math

import pandas as pd
import pytest
from typer.testing import CliRunner

import scoresim
from scoresim.cli import app
from scoresim.scenario.loader import ScenarioError

RUN = dict(agents=20_000, days=60, seed=3, records="all")
WARN = "channels.street_camera.voice_warning"


@pytest.fixture(scope="module")
def runs():
    plain = scoresim.run("reference", **RUN)
    zero = scoresim.run("reference", **RUN, set={WARN: 0.0})
    warned = scoresim.run("reference", **RUN, set={WARN: 0.4})
    return plain, zero, warned


def _key(records: pd.DataFrame) -> pd.DataFrame:
    cols = ["day", "subject", "behaviour", "channel", "true_actor", "error"]
    return records[cols].astype(str).sort_values(cols).reset_index(drop=True)


def test_a_warning_nobody_heeds_is_no_warning(runs):
    plain, zero, _ = runs
    pd.testing.assert_frame_equal(plain.timeseries, zero.timeseries)
    pd.testing.assert_frame_equal(plain.records, zero.records)
    assert "n_voice_warnings" not in plain.timeseries


def test_the_share_who_step_back_is_the_probability(runs):
    _, _, warned = runs
    n = int(warned.timeseries["n_voice_warnings"].sum())
    back = int(warned.timeseries["n_stepped_back"].sum())
    se = math.sqrt(0.4 * 0.6 / n)
    assert n > 1000
    assert abs(back / n - 0.4) < 4 * se, (back, n)


def test_other_channels_are_untouched_and_the_camera_records_fewer(runs):
    plain, _, warned = runs
    cam = plain.records["channel"].astype(str) == "street_camera"
    cam_w = warned.records["channel"].astype(str) == "street_camera"
    pd.testing.assert_frame_equal(_key(plain.records[~cam]), _key(warned.records[~cam_w]))
    # the camera's records with the warning are a subset of those without it
    a, b = _key(plain.records[cam]), _key(warned.records[cam_w])
    merged = b.merge(a.drop_duplicates(), how="left", indicator=True)
    assert (merged["_merge"] == "both").all()
    # and fewer by about the people who stepped back and would have been recognised
    back = int(warned.timeseries["n_stepped_back"].sum())
    missing = len(a) - len(b)
    assert 0 < missing <= back


def test_only_a_camera_warns(tmp_path):
    with pytest.raises(ScenarioError, match="voice_warning applies to camera channels only"):
        scoresim.run("reference", agents=100, days=2, set={"channels.court.voice_warning": 0.5})
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["run", "reference", "--agents", "100", "--days", "2",
                                      "--set", "channels.court.voice_warning=0.5",
                                      "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert "voice_warning" in result.output and "Traceback" not in result.output
    assert not out.exists()


def test_the_person_backend_says_it_cannot_warn():
    with pytest.raises(ScenarioError, match="voice_warning"):
        scoresim.run("reference", agents=100, days=2, backend="person", records="none",
                     set={WARN: 0.3})
