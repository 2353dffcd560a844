"""People adapt: common random numbers, deterrence and chilling by thinning, awareness, ties."""

from __future__ import annotations

import math

import numpy as np
import pytest

import scoresim
from scoresim.model.engine import Simulation
from scoresim.model.random import stream_key
from scoresim.model.response import (
    CHILLED,
    DETERRED,
    RISK_ONE,
    ResponseKeys,
    ResponseParams,
    factor,
)
from scoresim.model.ties import Ties
from scoresim.scenario import ScenarioError, load_scenario


def _pilot_without_responses(agents: int, days: int) -> dict:
    data = scoresim.resolve("pilot-city", agents=agents, days=days, records="none").model_dump(
        mode="json")
    data["responses"] = None
    data.pop("dissent", None)  # the paper's choice is a response too: critical speech thinned
    del data["behaviours"]["volunteering_for_points"]
    del data["scoring"]["points"]["volunteering_for_points"]
    return data


def _events_by_day(scenario, days: int) -> list[set[tuple[int, str]]]:
    sim = Simulation(load_scenario(scenario))
    names = sim.behaviour.names
    out = []
    for _ in range(days):
        ev = sim.step().events  # the day's realised events, after any response
        out.append({(int(a), names[b]) for a, b in zip(ev.actor, ev.behaviour, strict=True)})
    return out


def test_without_responses_true_behaviour_is_identical_with_and_without_the_system():
    days = 40
    with_system = _events_by_day(_pilot_without_responses(3000, days), days)
    without = _events_by_day(scoresim.resolve("no-system", agents=3000, days=days), days)
    assert sum(len(d) for d in without) > 10_000  # enough events for the check to mean something
    assert with_system == without


def test_with_responses_each_persons_events_are_a_subset_of_their_no_system_events():
    days = 40
    with_system = _events_by_day(scoresim.resolve("pilot-city", agents=3000, days=days,
                                                  records="none"), days)
    without = _events_by_day(scoresim.resolve("no-system", agents=3000, days=days), days)
    shared = [{e for e in d if e[1] != "volunteering_for_points"} for d in with_system]
    assert all(s <= w for s, w in zip(shared, without, strict=True))
    # and the system did thin some of them
    assert sum(len(w) - len(s) for s, w in zip(shared, without, strict=True)) > 0


def _speech_scenario(points: int, chilling: bool = True) -> dict:
    return {
        "name": "speech", "seed": 7, "agents": 20_000, "days": 60, "records": "none",
        "behaviours": {"criticizing_government": {"rate": 0.01, "channel": "online",
                                                  "speech": True}},
        "channels": {"online": {"kind": "register", "record_probability": 0.5}},
        "scoring": {"points": {"criticizing_government": points},
                    "grades": [{"name": "A", "min_score": 0}, {"name": "D", "min_score": None}]},
        "responses": {"awareness": {"initial_share": 1.0},
                      **({"chilling": {"value_points": 20.0, "temperature_points": 10.0}}
                         if chilling else {})},
    }


def test_speech_falls_as_the_sanction_for_it_rises():
    spoken = {p: int(scoresim.run(_speech_scenario(p)).timeseries["n_speech_events"].sum())
              for p in (0, -30, -80, -200)}
    unchilled = int(scoresim.run(_speech_scenario(-50, chilling=False))
                    .timeseries["n_speech_events"].sum())
    # no sanction, or no chilling module: nobody self-censors, so every due event is spoken
    assert spoken[0] == unchilled
    # Each level must fall by more than 4 Poisson standard deviations of the level above it
    # (counts are sums of many rare, nearly independent events, so var ~ mean). Under common
    # random numbers the levels share due events and keep-draws, so the fall is also exact.
    levels = [spoken[p] for p in (0, -30, -80, -200)]
    for hi, lo in zip(levels, levels[1:], strict=False):
        assert hi - lo > 4 * math.sqrt(hi), levels


def _factor_twin(kind, pen, base_q, risk, params, bold_z, desire_z, sigma):
    """The deterrence and chilling factors in plain Python, as response.py documents them."""
    q = min(1.0, base_q * risk / RISK_ONE)
    cost = q * pen
    if kind == DETERRED:
        return math.exp(-params.sensitivity * cost)
    s = params.boldness_sigma
    bold = math.exp(s * bold_z - 0.5 * s * s)
    desire = math.exp(sigma * desire_z - 0.5 * sigma * sigma)
    gap = cost - bold * desire * params.value_points
    return 1.0 if gap <= 0 else math.exp(-gap / params.temperature)


def _params(**values: float) -> ResponseParams:
    return ResponseParams(**{f: float(values.get(f, 0.0)) for f in ResponseParams._fields})


def test_factor_kernel_matches_its_plain_twin():
    from scoresim.model.random import normal, propensity_z

    rng = np.random.default_rng(3)
    kind = np.array([DETERRED, CHILLED], dtype=np.int64)
    penalty = np.array([20.0, 150.0])
    base_q = np.array([0.3, 0.5])
    points = np.array([-20.0, -50.0])
    pk = np.array([stream_key(1, "society", "propensity:a"), stream_key(1, "society", "p:b")],
                  dtype=np.uint64)
    keys = ResponseKeys(*(stream_key(1, "response", str(k)) for k in range(8)))
    params = _params(sensitivity=0.05, value_points=30.0, boldness_sigma=1.0, temperature=25.0)
    flags = np.ones(500, dtype=np.uint8)
    risk = rng.integers(0, 256, 500).astype(np.uint8)
    for i in range(500):
        for b in (0, 1):
            got = factor(i, b, 0, kind, penalty, base_q, points, pk, 0.5, flags, risk, keys,
                         params)
            want = _factor_twin(kind[b], penalty[b], base_q[b], risk[i], params,
                                normal(keys.boldness, np.uint64(i), np.uint64(0)),
                                propensity_z(pk[b], np.uint64(i)), 0.5)
            assert got == pytest.approx(want, rel=1e-12)


def test_unaware_people_do_not_respond_and_nobody_acts_for_points_unaware():
    kind = np.array([DETERRED, 3], dtype=np.int64)
    z = np.zeros(2)
    keys = ResponseKeys(*(np.uint64(0) for _ in range(8)))
    params = _params(**dict.fromkeys(ResponseParams._fields, 1.0))
    flags, risk = np.zeros(1, np.uint8), np.full(1, 255, np.uint8)
    assert factor(0, 0, 0, kind, np.array([100.0, 0]), np.ones(2), np.array([-100.0, 5.0]),
                  np.zeros(2, np.uint64), 0.0, flags, risk, keys, params) == 1.0
    assert factor(0, 1, 0, kind, z, z, np.array([-100.0, 5.0]), np.zeros(2, np.uint64), 0.0,
                  flags, risk, keys, params) == 0.0


def test_points_motive_without_gamified_virtue_is_refused():
    data = _speech_scenario(-10)
    data["behaviours"]["volunteering_for_points"] = {"rate": 0.01, "motive": "points"}
    with pytest.raises(ScenarioError, match="gamified_virtue"):
        load_scenario(data)


def test_reference_allocates_nothing_for_responses_or_redress():
    sim = Simulation(scoresim.resolve("reference", agents=1000, days=5))
    assert not {"response", "redress", "abuse"} & set(sim.modules)
    assert "response" not in sim.describe_plan()
    sim.run()
    assert "n_aware" not in sim.timeseries().columns


def test_awareness_spreads_along_ties():
    data = _speech_scenario(-200)
    data["sanctions"] = {"media_suspension": {"triggers": ["criticizing_government"]}}
    data["responses"]["awareness"] = {"initial_share": 0.05, "from_tie": 1.0}
    data["agents"], data["days"] = 5000, 30
    n = data["agents"]

    def aware_at_end(ties: Ties | None) -> int:
        sim = Simulation(load_scenario(data))
        if ties is not None:
            sim.modules["response"].ties = ties
        sim.run()
        return int(sim.timeseries()["n_aware"].iloc[-1])

    ring = np.arange(n)
    ties = Ties.from_edges(n, ring, (ring + 1) % n)
    owner, contact = ties.contacts_of(np.array([0, 7]))
    assert sorted(contact[owner == 1].tolist()) == [6, 8]
    alone, tied = aware_at_end(None), aware_at_end(ties)
    assert tied > alone + 50, (alone, tied)


@pytest.mark.parametrize("override, message", [
    ({"responses.awareness.initial_share": 1.5}, "initial_share"),
    ({"responses.avoidance.region_channels": ["nowhere"]}, "unknown channel"),
    ({"abuse": {"target": "trait", "trait": "occupation", "level": "poet"}}, "unknown level"),
    ({"abuse": {"target": "propensity"}}, "needs behaviour"),
    ({"credit_repair.serious_min_points": 3}, "serious_min_points"),
])
def test_bad_response_input_is_refused(override, message):
    with pytest.raises(ScenarioError, match=message):
        scoresim.resolve("pilot-city", overrides=override)
