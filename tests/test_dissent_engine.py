"""The dissent choice inside the engine (model/dissent_choice.py), issue 20's second half.

The engine's rounds must be the standalone runner's (dissent_rounds.play) on the
paper's set-up, draw for draw; severity must never move who people are (common
random numbers); total surveillance must split the population as the paper
says; the adaptive authority must lower its cost over the engine's rounds; the
choice must thin critical speech to what is expressed; and inside a social
credit scenario the punishment and surveillance weighed are the scenario's own.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import scoresim
from scoresim.model.backends import reasons_not_eligible
from scoresim.model.dissent import (
    COMPLIANT,
    DEFIANT,
    SELF_CENSORING,
    Adapt,
    Policy,
    action_category,
    optimal_action,
)
from scoresim.model.dissent_choice import scenario_policy
from scoresim.model.dissent_rounds import play
from scoresim.model.engine import Simulation
from scoresim.model.rulebook import Rulebook
from scoresim.scenario import ScenarioError

N, DAYS = 4_000, 300
FIXED = {"dissent.adapt": None}


def engine(days: int = DAYS, agents: int = N, seed: int = 7, **sets) -> Simulation:
    scenario = scoresim.resolve("dissent", agents=agents, days=days, seed=seed,
                                overrides=sets)
    return Simulation(scenario).run()


def test_the_engine_plays_the_papers_rounds_as_the_standalone_runner_does():
    sim = engine()
    ts, people = sim.timeseries(), sim.people()
    alone = play(n=N, rounds=DAYS, seed=7, punishment="uniform", desired_mean=0.25,
                 boldness_mean=2.0, policy=Policy(0.25, 0.1, 0.1), adapt=Adapt(0.05, 1.0))
    for column in ("mean_dissent", "n_compliant", "n_self_censoring", "n_defiant",
                   "tolerance", "severity", "surveillance", "political_cost",
                   "punishment_cost"):
        np.testing.assert_array_equal(ts[column].to_numpy(), alone.rounds[column].to_numpy(),
                                      err_msg=column)
    for column in ("desired_dissent", "boldness", "dissent"):
        np.testing.assert_array_equal(people[column].to_numpy(),
                                      alone.people[column].to_numpy(), err_msg=column)
    # the authority did move (the comparison is not of two constant series)
    assert ts["severity"].nunique() > 10 and ts["tolerance"].nunique() > 10


def test_rounds_longer_than_a_day_hold_the_policy_within_a_round():
    sim = engine(days=60, **{"dissent.round_days": 5})
    ts = sim.timeseries()
    alone = play(n=N, rounds=12, seed=7, boldness_mean=2.0, adapt=Adapt()).rounds
    np.testing.assert_array_equal(ts["severity"].to_numpy(),
                                  np.repeat(alone["severity"].to_numpy(), 5))
    np.testing.assert_array_equal(ts["n_defiant"].to_numpy(),
                                  np.repeat(alone["n_defiant"].to_numpy(), 5))


def test_the_adaptive_authority_lowers_its_cost_over_the_engines_rounds():
    ts = engine(days=1_500, agents=10_000).timeseries()
    cost = (ts["political_cost"] + ts["punishment_cost"]).to_numpy()
    first, last = cost[:100], cost[-100:]
    # its policy wanders by small steps, so rounds are correlated: compare windows far
    # apart against the whole run's spread rather than a per-round standard error
    assert last.mean() < first.mean() - 2.0 * cost.std()
    assert ts["n_defiant"].iloc[-100:].mean() < ts["n_defiant"].iloc[:100].mean()


@pytest.mark.parametrize("kind", ["uniform", "proportional"])
def test_severity_moves_what_people_say_never_who_they_are(kind):
    """Common random numbers: with the authority fixed, severity leaves desire and boldness."""
    mild = engine(days=30, **FIXED, **{"dissent.punishment": kind, "dissent.severity": 0.1})
    harsh = engine(days=30, **FIXED, **{"dissent.punishment": kind, "dissent.severity": 3.0})
    a, b = mild.people(), harsh.people()
    for column in ("desired_dissent", "boldness"):
        np.testing.assert_array_equal(a[column].to_numpy(), b[column].to_numpy())
    assert (a["dissent"] > b["dissent"]).sum() > 100  # the harsher policy did bite
    assert (a["dissent"] >= b["dissent"]).all()
    # and what is said is each person's closed-form optimum
    np.testing.assert_array_equal(
        b["dissent"].to_numpy(),
        optimal_action(b["desired_dissent"].to_numpy(), b["boldness"].to_numpy(), 0.25, 3.0,
                       0.1, kind))
    # without the authority's columns: a fixed authority's policy is the scenario's
    assert "severity" not in mild.timeseries().columns


@pytest.mark.parametrize("kind", ["uniform", "proportional"])
def test_total_surveillance_splits_the_population_as_the_paper_says(kind):
    """nu = 1: nobody self-censors partly; each says all or exactly the tolerance.

    Under proportional punishment with total surveillance the utility above the
    tolerance is linear with slope beta - psi: defiant iff beta >= psi. Under
    uniform, defiant iff beta (delta - tau) >= psi.
    """
    tau, psi = 0.2, 1.5
    sim = engine(days=5, **FIXED, **{"dissent.punishment": kind, "dissent.surveillance": 1.0,
                                     "dissent.tolerance": tau, "dissent.severity": psi})
    p = sim.people()
    delta, beta, said = (p[c].to_numpy() for c in ("desired_dissent", "boldness", "dissent"))
    cat = action_category(said, delta, tau)
    assert {COMPLIANT, SELF_CENSORING, DEFIANT} <= set(cat.tolist())
    np.testing.assert_array_equal(said[cat == SELF_CENSORING], tau)  # fully, never partly
    above = delta > tau
    defy = beta >= psi if kind == "proportional" else beta * (delta - tau) >= psi
    np.testing.assert_array_equal(cat[above] == DEFIANT, defy[above])
    ts = sim.timeseries()
    assert ts["n_self_censoring"].iloc[-1] == int((cat == SELF_CENSORING).sum())
    assert (ts[["n_compliant", "n_self_censoring", "n_defiant"]].sum(axis=1) == N).all()


def test_critical_speech_is_thinned_to_what_is_expressed():
    """Each due critical post is kept with probability dissent / desired dissent.

    Against a harmless authority (severity 0) nobody holds back: every due post is
    said. Against a harsh one the posts are a subset, day by day, and their count
    is the due posts' expected keep share, within the binomial spread.
    """
    free = engine(days=200, **FIXED, **{"dissent.severity": 0.0})
    harsh = engine(days=200, **FIXED, **{"dissent.severity": 2.0, "dissent.tolerance": 0.1})
    said_free = free.timeseries()["n_events_critical_post"].to_numpy()
    said_harsh = harsh.timeseries()["n_events_critical_post"].to_numpy()
    assert (said_harsh <= said_free).all() and said_harsh.sum() < 0.9 * said_free.sum()
    p = harsh.people()
    keep = p["dissent"].to_numpy() / p["desired_dissent"].to_numpy()
    # every person's posts come from one clock at one rate: E[kept] = rate x days x sum(keep)
    rate = 0.05 * 200
    expected = rate * keep.sum()
    spread = math.sqrt(rate * np.sum(keep))  # Poisson: var = mean
    assert abs(said_harsh.sum() - expected) < 4.0 * spread


def test_its_state_survives_a_checkpoint():
    scenario = scoresim.resolve("dissent", agents=N, days=120, seed=3)
    first = Simulation(scenario)
    for _ in range(50):
        first.step()
    second = Simulation(scenario)
    second.restore(first.state())
    first.run()
    second.run()
    pd.testing.assert_frame_equal(first.timeseries(), second.timeseries())
    pd.testing.assert_frame_equal(first.people(), second.people())


def test_the_person_backend_says_why_it_cannot_run_it():
    why = reasons_not_eligible(scoresim.resolve("dissent"))
    assert any(w.startswith("dissent:") for w in why)
    assert any(w.startswith("dissent.adapt:") for w in why)
    with pytest.raises(ScenarioError):
        scoresim.run("dissent", agents=100, days=3, backend="person", records="none")


# pilot-city as built: the paper's choice, its punishment and surveillance the scenario's own
PILOT: dict = {}


def test_inside_pilot_city_the_punishment_weighed_is_the_rulebooks():
    """pilot-city: a recorded critical post is -50 points and a media suspension.

    Severity (50 + sanction_points 100) / points_per_severity 100 = 1.5, and the
    surveillance the online channel's record probability; a change to the
    rulebook's points or the channel moves what is weighed, with nothing restated.
    """
    scenario = scoresim.resolve("pilot-city", agents=1_000, overrides=PILOT)
    recall = scenario.channels["online_monitoring"].record_probability
    assert scenario_policy(scenario, Rulebook(scenario, 1)) == (0.0, 1.5, recall)
    milder = scoresim.resolve("pilot-city", agents=1_000, overrides={
        **PILOT, "scoring.points.criticizing_government": -10,
        "sanctions.media_suspension": None,
        "channels.online_monitoring.record_probability": 0.25})
    assert scenario_policy(milder, Rulebook(milder, 1)) == (0.0, 0.1, 0.25)


def test_inside_pilot_city_the_choice_chills_critical_posts_and_nothing_else():
    base = dict(agents=6_000, days=60, seed=5, records="none")
    silent = scoresim.resolve("pilot-city", **base, overrides=PILOT)
    free = scoresim.resolve("pilot-city", **base, overrides={
        **PILOT, "dissent.points_per_severity": 1e9})  # a punishment nobody weighs
    a, b = Simulation(silent).run(), Simulation(free).run()
    ta, tb = a.timeseries(), b.timeseries()
    assert ta["n_events_criticizing_government"].sum() < tb["n_events_criticizing_government"].sum()
    pa, pb = a.people(), b.people()
    np.testing.assert_array_equal(pa["desired_dissent"], pb["desired_dissent"])
    np.testing.assert_array_equal(pa["boldness"], pb["boldness"])
    # next to nothing to fear: all but the very shyest say all they want
    assert (pb["dissent"] == pb["desired_dissent"]).mean() > 0.999
    # severity 1.5 at tolerance 0: who does not defy says nothing critical at all
    np.testing.assert_array_equal(pa["dissent"][pa["dissent"] < pa["desired_dissent"]], 0.0)


def pilot(agents: int = 4_000, days: int = 40, **sets) -> Simulation:
    scenario = scoresim.resolve("pilot-city", agents=agents, days=days, seed=11,
                                records="none", overrides=sets)
    return Simulation(scenario).run()


def test_pilot_citys_critical_speech_follows_the_channel_and_the_sanction_as_the_paper_says():
    """Paired runs (same seed): more recording or a harsher sanction, less critical speech.

    Under uniform punishment at tolerance 0 a person defies iff beta delta >=
    psi (nu + (1 - nu) delta), and otherwise says nothing: a larger recording
    probability (nu) or severity (psi) can only silence more people, and never
    makes anyone louder. What each says is the closed form at the policy read from
    the scenario, and their posts are the base run's, thinned further (the same
    keyed draws), so the day's count can only fall.
    """
    base = pilot()
    watched = pilot(**{"channels.online_monitoring.record_probability": 0.3})
    harsher = pilot(**{"scoring.points.criticizing_government": -200})
    milder = pilot(**{"sanctions.media_suspension": None})
    posts = {name: sim.timeseries()["n_events_criticizing_government"].to_numpy()
             for name, sim in (("base", base), ("watched", watched), ("harsher", harsher),
                               ("milder", milder))}
    pb = base.people()
    for louder, quieter in (("base", "watched"), ("base", "harsher"), ("milder", "base")):
        assert (posts[quieter] <= posts[louder]).all(), (louder, quieter)
        # tolerance: the counts are Poisson-thinned sums over ~4,000 x 40 x 1/365 posts;
        # the gaps asked for are well outside their spread (several hundred posts each way)
        assert posts[quieter].sum() < 0.95 * posts[louder].sum(), (louder, quieter)
    for sim in (watched, harsher, milder):
        p = sim.people()
        np.testing.assert_array_equal(p["desired_dissent"], pb["desired_dissent"])
        np.testing.assert_array_equal(p["boldness"], pb["boldness"])
    assert (watched.people()["dissent"] <= pb["dissent"]).all()
    assert (harsher.people()["dissent"] <= pb["dissent"]).all()
    assert (milder.people()["dissent"] >= pb["dissent"]).all()
    # and each is the paper's closed form at what the scenario does to critics
    for sim in (base, watched, harsher, milder):
        tau, psi, nu = scenario_policy(sim.world.scenario, sim.world.rules)
        p = sim.people()
        np.testing.assert_array_equal(
            p["dissent"].to_numpy(),
            optimal_action(p["desired_dissent"].to_numpy(), p["boldness"].to_numpy(), tau, psi,
                           nu, "uniform"))


def test_the_older_chilling_rule_stays_an_option():
    """dissent.response: chilling gives pilot-city's speech as before the section existed."""
    chilling = pilot(days=30, **{"dissent.response": "chilling"})
    before = pilot(days=30, dissent=None)
    a, b = chilling.timeseries(), before.timeseries()
    pd.testing.assert_frame_equal(a[b.columns], b)
    assert a["n_events_criticizing_government"].sum() > \
        pilot(days=30).timeseries()["n_events_criticizing_government"].sum()


def test_china_weighs_each_regions_own_rules():
    """china: each pilot's points, none outside a pilot, the national media suspension."""
    sim = Simulation(scoresim.resolve("china", agents=3_000, days=2, seed=2, records="none"))
    choice = sim.modules["dissent"]
    rules = sim.world.rules
    expected = {}
    for k, scheme in enumerate(rules.schemes.names):
        points = 0 if scheme == "none" else -sim.world.scenario.schemes[
            scheme].points["criticizing_government"]
        expected[k] = (points + 100.0) / 100.0
    of_person = rules.schemes.of_person
    np.testing.assert_allclose(choice.severity_of,
                               [expected[int(k)] for k in of_person])
    assert len(set(choice.severity_of.tolist())) == 3  # 50 and 30 points, and none


def test_a_speech_act_has_one_mechanism():
    with pytest.raises(ScenarioError, match="responses.chilling"):
        scoresim.resolve("china", overrides={"dissent.response": "chilling"})
    with pytest.raises(ScenarioError, match="dissent.adapt"):
        scoresim.resolve("china", overrides={"dissent.adapt": {}})
    with pytest.raises(ScenarioError, match="dissent.behaviours"):
        scoresim.resolve("dissent", overrides={"dissent.behaviours": ["no_such_act"]})
    with pytest.raises(ScenarioError, match="trait"):
        scoresim.resolve("dissent", overrides={"dissent.boldness.by_trait": {"job": {"x": 2.0}}})


def test_boldness_by_trait_gives_a_level_its_own_mean():
    sets = {**PILOT, "dissent.boldness.by_trait": {"occupation": {"journalist": 20.0}}}
    sim = Simulation(scoresim.resolve("pilot-city", agents=20_000, days=2, seed=4,
                                      records="none", overrides=sets))
    p = sim.people()
    journalist = p["occupation"] == "journalist"
    assert journalist.sum() > 10
    assert p["boldness"][journalist].mean() > 5.0 > p["boldness"][~journalist].mean()


def test_the_example_sweep_files_are_valid_plans():
    """examples/dissent's sweep files name the built-in scenario's own keys."""
    from pathlib import Path

    from scoresim.studies.sweep import load_plan

    here = Path(__file__).parent.parent / "examples" / "dissent"
    phases = load_plan(here / "sweep-phases.yaml")
    adaptive = load_plan(here / "sweep-adaptive.yaml")
    assert len(phases.members) == 2 * 8 * 6
    assert len(adaptive.members) == 2 * 8 * 6 * 2  # two arms: the given start and random ones
    assert all(m.scenario["dissent"].get("adapt") is None for m in phases.members.values())
    assert all(m.scenario["dissent"]["adapt"] is not None for m in adaptive.members.values())


@pytest.mark.parametrize("kind", ["uniform", "proportional"])
def test_a_severity_per_person_plays_the_papers_round(kind):
    """The per-person round (regions) is play_round's, person by person.

    With one severity for all it returns play_round's numbers exactly; with a
    severity per person its sum of dissent and counts are those of each person's
    closed form at their own severity.
    """
    from scoresim.model.dissent import (
        draw_population,
        play_round,
        punishment_code,
    )
    from scoresim.model.dissent_choice import _play_each
    from scoresim.model.random import stream_key

    delta, beta = draw_population(3_000, 5, 0.3, 1.5)
    key = stream_key(5, "dissent", "observe")
    code = punishment_code(kind)
    same = _play_each(delta, beta, 0.1, np.full(delta.shape, 0.8), 0.3, code, key, 4)
    assert same == play_round(delta, beta, 0.1, 0.8, 0.3, code, key, 4)
    psi = np.where(np.arange(delta.size) % 3 == 0, 0.2, 2.5)
    total, n_c, n_s, n_d, _ = _play_each(delta, beta, 0.1, psi, 0.3, code, key, 4)
    a = optimal_action(delta, beta, 0.1, psi, 0.3, kind)
    cat = action_category(a, delta, 0.1)
    assert math.isclose(total, float(a.sum()), rel_tol=1e-12)
    assert (n_c, n_s, n_d) == tuple(int((cat == c).sum())
                                    for c in (COMPLIANT, SELF_CENSORING, DEFIANT))


def _plot_sweeps():
    """examples/dissent/plot_sweeps.py, imported as a module (it is a script, not a package)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parent.parent / "examples" / "dissent" / "plot_sweeps.py"
    spec = importlib.util.spec_from_file_location("plot_sweeps", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_phase_figures_policies_are_in_the_phase_sweep():
    """Each panel plot_sweeps draws is a member of sweep-phases.yaml (no panel left empty)."""
    from pathlib import Path

    from scoresim.studies.sweep import load_plan

    plot = _plot_sweeps()
    here = Path(__file__).parent.parent / "examples" / "dissent"
    members = load_plan(here / "sweep-phases.yaml").members.values()
    have = {(m.scenario["dissent"]["punishment"], m.scenario["dissent"]["severity"],
             m.scenario["dissent"]["surveillance"]) for m in members}
    for kind, policies in plot.PHASE_POLICIES.items():
        for psi, nu in policies:
            assert (kind, psi, nu) in have
    assert all(m.scenario["dissent"]["tolerance"] == plot.TOLERANCE for m in members)


@pytest.mark.slow
def test_the_sweep_figures_are_drawn_from_the_sweep_outputs(tmp_path):
    """Tiny versions of the two sweep files, run by scoresim.sweep, drawn by plot_sweeps."""
    import yaml

    from scoresim.studies.cluster import local_cluster

    phases = {"scenario": "dissent", "agents": 400, "days": 1, "seeds": [1], "records": "none",
              "set": {"dissent.adapt": None},
              "grid": {"dissent.punishment": ["uniform", "proportional"],
                       "dissent.severity": [1.0, 1.5], "dissent.surveillance": [0.0, 0.4, 0.8]}}
    adaptive = {"scenario": "dissent", "agents": 400, "days": 1200, "seeds": 1,
                "records": "none",
                "grid": {"dissent.punishment": ["uniform", "proportional"],
                         "dissent.boldness.mean": [0.5, 8.0]},
                "arms": {"given": {}, "random": {"set": {"dissent.adapt.start": "random"}}}}
    cluster = local_cluster(2)
    try:
        for name, spec in (("phases", phases), ("adaptive", adaptive)):
            (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(spec))
            scoresim.sweep(tmp_path / f"{name}.yaml", out=tmp_path / name, scheduler=cluster)
    finally:
        cluster.close()
    out = tmp_path / "fig"
    assert _plot_sweeps().main([str(tmp_path / "phases"), str(tmp_path / "adaptive"),
                                "--out", str(out)]) == 0
    for name in ("engine_phases.png", "engine_phase_shares.png", "engine_adaptive.png",
                 "engine_suppression.png"):
        assert (out / name).stat().st_size > 10_000, name
    times = pd.read_csv(out / "engine_suppression.csv")
    assert len(times) == 2 * 2 * 2 and set(times["arm"]) == {"given", "random"}
    # the timid population is suppressed within 1,200 rounds, the bold one is not
    timid = times[times["boldness"] == 0.5]["suppression_round"]
    assert np.isfinite(timid).all() and np.isinf(times[times["boldness"] == 8.0][
        "suppression_round"]).all()
    shares = pd.read_csv(out / "engine_phase_shares.csv")
    np.testing.assert_allclose(shares[["share_compliant", "share_self_censoring",
                                       "share_defiant"]].sum(axis=1), 1.0)
