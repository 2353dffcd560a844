"""The society past the individual: households, ties, regions and their pilots, firms,
joint punishment and peer ratings.

Statistical tests use fixed seeds; each tolerance is a number of standard deviations
of the quantity it bounds (derived in the comment beside it), wide enough that the
seed is not the reason a test passes, narrow enough to catch a wrong rule.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import scoresim
from scoresim.model.engine import Simulation
from scoresim.model.households import CHILD, HEAD, PARTNER, build_households
from scoresim.model.peer_rating import MILLI, _rate
from scoresim.model.random import geometric_skip, normal, stream_key, uniform, uniforms
from scoresim.model.society import Society
from scoresim.model.standing import SCORE
from scoresim.model.ties import build_ties
from scoresim.scenario import ScenarioError, load_scenario
from scoresim.scenario.schema import Households as HouseholdsConfig
from scoresim.scenario.schema import Network

SEED = 4242
SIGMAS = 5.0  # a 5-sigma band: a false alarm about once in 1.7 million per check

# A small china: every feature on, full records so every sanction can be traced.
CHINA_SETS = {
    "records": "all",
    "sanctions.dishonest_list.repayment_rate": 0.0,
    "behaviours.court_judgment_default.rate": 0.0002,  # enough listings to check in 150 days
    "firms.behaviours.court_default.rate": 0.001,
}


@pytest.fixture(scope="module")
def china() -> scoresim.Results:
    return scoresim.run("china", agents=20_000, days=150, seed=SEED, set=CHINA_SETS)


# --- households ----------------------------------------------------------------------------
def test_household_sizes_match_their_shares():
    shares = [0.25, 0.30, 0.21, 0.13, 0.07, 0.04]
    hh = build_households(SEED, 300_000, HouseholdsConfig(size_shares=shares))
    sizes = hh.sizes()[:-1]  # the last block may be cut short by the end of the ids
    counts = np.bincount(sizes, minlength=len(shares) + 1)[1:]
    h = sizes.shape[0]
    # multinomial: the count of size k has sd sqrt(h p (1 - p))
    sd = np.sqrt(h * np.array(shares) * (1 - np.array(shares)))
    assert np.all(np.abs(counts - h * np.array(shares)) < SIGMAS * sd), (counts, h)
    # blocks: consecutive ids, each starting with its head
    assert np.all(np.diff(hh.household) >= 0)
    assert np.all(hh.role[hh.start[:-1]] == HEAD)
    assert np.all(np.bincount(hh.household) == hh.sizes())


def test_household_roles_match_their_shares():
    cfg = HouseholdsConfig(size_shares=[0.2, 0.3, 0.3, 0.2], couple_share=0.7, parent_share=0.25)
    hh = build_households(SEED, 200_000, cfg)
    sizes = hh.sizes()
    two_plus = sizes >= 2
    couples = hh.role[hh.start[:-1][two_plus] + 1] == PARTNER
    m = int(two_plus.sum())
    assert abs(couples.mean() - 0.7) < SIGMAS * np.sqrt(0.7 * 0.3 / m)  # binomial over households


def test_households_against_a_plain_python_twin():
    cfg = HouseholdsConfig(size_shares=[0.3, 0.4, 0.3], couple_share=0.6, parent_share=0.5)
    n = 997
    hh = build_households(SEED, n, cfg)
    key = stream_key(SEED, "households", "blocks")
    cum = np.cumsum(cfg.size_shares)
    i = h = 0
    household, role = np.empty(n, np.int64), np.empty(n, np.int64)
    while i < n:
        u = uniform(key, np.uint64(h), np.uint64(0))
        s = min(int(np.searchsorted(cum[:-1], u, side="right")) + 1, n - i)
        household[i:i + s] = h
        role[i:i + s] = CHILD
        role[i] = HEAD
        if s >= 2 and uniform(key, np.uint64(h), np.uint64(1)) < cfg.couple_share:
            role[i + 1] = PARTNER
        if s >= 3 and uniform(key, np.uint64(h), np.uint64(2)) < cfg.parent_share:
            role[i + s - 1] = 3
        i, h = i + s, h + 1
    assert np.array_equal(hh.household, household)
    assert np.array_equal(hh.role, role)


# --- marginals and regions -----------------------------------------------------------------
def test_traits_and_regions_match_their_marginals():
    sc = load_scenario("china", {"agents": 200_000, "network": None, "firms": None,
                                 "joint_punishment": None})
    soc = Society.build(sc, sc.agents, SEED)
    n = soc.n
    for name in ("sex", "income_band", "occupation", "education"):
        got = np.bincount(soc.trait(name), minlength=len(soc.shares[name])) / n
        sd = np.sqrt(soc.shares[name] * (1 - soc.shares[name]) / n)  # binomial per level
        assert np.all(np.abs(got - soc.shares[name]) < SIGMAS * sd + 1e-12), name
    # a region is drawn per household, so its share's variance is p (1 - p) sum(size^2) / n^2
    shares = np.array([r.share for r in sc.regions.values()])
    got = np.bincount(soc.region, minlength=shares.shape[0]) / n
    sizes = soc.households.sizes().astype(np.float64)
    sd = np.sqrt(shares * (1 - shares) * (sizes ** 2).sum()) / n
    assert np.all(np.abs(got - shares) < SIGMAS * sd)
    # and a household lives in one region
    hh = soc.households.household
    assert np.all(soc.region == soc.region[soc.households.start[hh]])


# --- ties ----------------------------------------------------------------------------------
def _network(n=200_000, **kw):
    cfg = Network(**kw)
    region = (uniforms(stream_key(1, "t", "r"), np.arange(n), np.uint64(0)) * 4).astype(np.uint8)
    occ = (uniforms(stream_key(1, "t", "o"), np.arange(n), np.uint64(0)) ** 2 * 6).astype(np.uint8)
    return cfg, region, occ, build_ties(SEED, cfg, region, 4, occ, 6)


def test_ties_are_symmetric_with_the_configured_degree():
    cfg, region, occ, ties = _network()
    n = region.shape[0]
    deg = ties.degree()
    src = np.repeat(np.arange(n), deg)
    a = np.sort(src.astype(np.int64) * n + ties.neighbours)
    b = np.sort(ties.neighbours.astype(np.int64) * n + src)
    assert np.array_equal(a, b)  # every tie is listed at both ends
    assert not np.any(src == ties.neighbours)  # nobody is their own contact
    # each person draws half of d ~ U{10..20}; the mean degree is twice the mean draw count,
    # E = 15, sd of the mean sqrt(var(d) / n) with var(d) = (11^2 - 1) / 12 = 10
    assert abs(deg.mean() - 15.0) < SIGMAS * np.sqrt(10.0 / n)
    # variance: own draws (var(d)/4 plus odd rounding 1/8) plus the draws received,
    # about Poisson with mean 7.5
    assert abs(deg.var() - (10 / 4 + 1 / 8 + 7.5)) < 0.5
    assert np.mean((deg >= 10) & (deg <= 20)) > 0.8


def test_ties_are_homophilous_as_configured():
    cfg, region, occ, ties = _network(within_region=0.8, within_occupation=0.3)
    n = region.shape[0]
    src = np.repeat(np.arange(n), ties.degree())
    dst = ties.neighbours
    same_region = (region[src] == region[dst]).mean()
    same_cell = ((region[src] == region[dst]) & (occ[src] == occ[dst])).mean()
    pi = np.bincount(region, minlength=4) / n
    cell = region.astype(np.int64) * 6 + occ
    pc = np.bincount(cell, minlength=24) / n
    q = pc.reshape(4, 6) / pi[:, None]  # occupation shares within each region
    # a draw stays in its region with within_region, else lands in region r with share pi_r
    exp_region = 0.8 + 0.2 * (pi ** 2).sum()
    exp_cell = 0.3 + 0.5 * (pi * (q ** 2).sum(axis=1)).sum() + 0.2 * (pc ** 2).sum()
    # about 1.5M draws: the sd of a share is below 0.001 even with per-person correlation
    assert abs(same_region - exp_region) < 0.005
    assert abs(same_cell - exp_cell) < 0.005


def test_ties_against_a_numpy_twin():
    cfg, region, occ, ties = _network(n=3000)
    n = region.shape[0]
    key = stream_key(SEED, "ties", "draws")
    ids = np.arange(n)
    d = cfg.degree_min + np.minimum(cfg.degree_max - cfg.degree_min,
                                    (uniforms(key, ids, np.uint64(0)) *
                                     (cfg.degree_max - cfg.degree_min + 1)).astype(np.int64))
    half = d // 2 + ((d % 2 == 1) & (uniforms(key, ids, np.uint64(1)) < 0.5))
    cell = region.astype(np.int64) * 6 + occ
    order = np.argsort(cell, kind="stable")
    cstart = np.searchsorted(cell[order], np.arange(25))
    edges = []
    for j in range(int(half.max())):
        who = ids[half > j]
        u = uniforms(key, who, np.uint64(2 + 2 * j))
        v = uniforms(key, who, np.uint64(3 + 2 * j))
        c = cell[who]
        r = region[who].astype(np.int64)
        lo, hi = np.zeros_like(who), np.full_like(who, n)
        in_cell = u < cfg.within_occupation
        lo[in_cell], hi[in_cell] = cstart[c[in_cell]], cstart[c[in_cell] + 1]
        in_reg = (u < cfg.within_region) & (~in_cell | (hi - lo < 2))
        lo[in_reg], hi[in_reg] = cstart[r[in_reg] * 6], cstart[(r[in_reg] + 1) * 6]
        k = np.minimum(hi - lo - 1, (v * (hi - lo)).astype(np.int64))
        other = order[lo + k]
        selfs = other == who
        other[selfs] = order[lo[selfs] + (k[selfs] + 1) % (hi - lo)[selfs]]
        edges.append(np.stack([who, other], axis=1))
    e = np.concatenate(edges)
    both = np.concatenate([e, e[:, ::-1]])
    want = np.sort(both[:, 0] * n + both[:, 1])
    src = np.repeat(ids, ties.degree())
    got = np.sort(src * n + ties.neighbours)
    assert np.array_equal(got, want)


def test_reference_builds_none_of_the_society():
    sim = Simulation(load_scenario("reference", {"agents": 100_000, "days": 2}))
    assert sim.society.households is None and sim.society.ties is None
    assert sim.society.region is None
    assert sim.world.rules.schemes.of_person.shape[0] == 0
    assert sim.sanctions.ends.collateral_until.shape[0] == 0
    assert not {"firms", "joint_punishment", "peer_rating"} & set(sim.modules)
    per_person = sum(sim.memory_bytes().values()) / sim.n
    assert per_person < 64


# --- regions apply their own schemes -------------------------------------------------------
def test_each_region_scores_the_same_records_by_its_own_scheme(china):
    sc = load_scenario("china")
    people = china.people.set_index("id")
    rec = china.records
    names = list(sc.behaviours)
    schemes = list(sc.schemes)
    points = np.zeros((len(schemes) + 1, len(names)), np.int64)
    initial = np.zeros(len(schemes) + 1, np.int64)
    for i, s in enumerate(sc.schemes.values()):
        initial[i] = s.initial
        for b, p in s.points.items():
            points[i, names.index(b)] = p
    scheme = people["scheme"].cat.codes.to_numpy()
    assert list(people["scheme"].cat.categories) == schemes + ["none"]
    b = pd.Categorical(rec["behaviour"], categories=names).codes
    subject = rec["subject"].to_numpy()
    score = initial[scheme].copy()
    np.add.at(score, subject, points[scheme[subject], b])
    col = china.collateral
    rel = col[col["kind"] == "relative_points"]
    np.add.at(score, rel["person"].to_numpy(), rel["points"].to_numpy())
    scored = scheme < len(schemes)
    assert np.array_equal(people["score"].to_numpy()[scored], score[scored])
    assert people["score"][~scored].isna().all()
    assert (people["grade"][~scored] == "none").all()
    # grades: each scheme's own cut-offs
    for i, (name, s) in enumerate(sc.schemes.items()):
        mine = scheme == i
        cuts = np.array([g.min_score for g in reversed(s.grades[:-1])])
        g = len(s.grades) - 1 - np.searchsorted(cuts, score[mine], side="right")
        want = np.array([s.grades[k].name for k in g], dtype=object)
        assert np.array_equal(people["grade"].to_numpy()[mine].astype(object), want), name
    # one national list everywhere: every court default listed, pilot or not (no repayment)
    defaulted = np.unique(rec.loc[rec["behaviour"] == "court_judgment_default", "subject"])
    assert defaulted.shape[0] > 10
    assert people["listed"].to_numpy()[defaulted].all()
    assert (~scored[defaulted]).any()  # some of them live without a pilot


# --- firms and joint punishment ------------------------------------------------------------
def test_listed_firms_bind_their_legal_representative(china):
    firms = china.firms
    listed = firms[firms["listed"]]
    assert len(listed) > 5
    people = china.people
    assert people["consumption_banned"].to_numpy()[listed["legal_rep"].to_numpy()].all()
    assert people["travel_banned"].to_numpy()[listed["legal_rep"].to_numpy()].all()
    assert {"firm", "legal_rep", "sector", "region", "score", "listed"} <= set(firms.columns)
    employer = people["employer"].to_numpy()
    assert employer.max() < len(firms)
    # employees work in their firm's region
    has = employer >= 0
    assert np.array_equal(people["region"].cat.codes.to_numpy()[has],
                          firms["region"].to_numpy()[employer[has]])


def test_every_collateral_sanction_traces_to_the_record_that_caused_it(china):
    col = china.collateral
    rec = china.records
    people = china.people
    frec = china.tables["firm_records"]
    firms = china.firms
    assert set(col["kind"]) == {"school_ban", "relative_points", "employer_points",
                                "legal_rep_ban"}
    by_person = col[col["cause_person"] >= 0]
    # a person's listing comes from their court-default record of that very day
    defaults = set(zip(rec.loc[rec["behaviour"] == "court_judgment_default", "day"],
                       rec.loc[rec["behaviour"] == "court_judgment_default", "subject"],
                       strict=True))
    assert all((d, p) in defaults for d, p in zip(by_person["day"], by_person["cause_person"],
                                                  strict=True))
    hh = people["household"].to_numpy()
    kin = by_person[by_person["person"] >= 0]
    assert np.array_equal(hh[kin["person"]], hh[kin["cause_person"]])
    school = col[col["kind"] == "school_ban"]
    role = people["household_role"].to_numpy()
    assert (role[school["person"]] == "child").all()
    assert np.isin(role[school["cause_person"]], ["head", "partner"]).all()
    emp = col[col["kind"] == "employer_points"]
    assert np.array_equal(people["employer"].to_numpy()[emp["cause_person"]], emp["firm"])
    # a firm's listing comes from a listing record of that day, and binds its representative
    by_firm = col[col["cause_firm"] >= 0]
    assert (by_firm["kind"] == "legal_rep_ban").all()
    listing = frec[frec["behaviour"].isin(["court_default", "refused_political_demand"])]
    firm_days = set(zip(listing["day"], listing["firm"], strict=True))
    assert all((d, f) in firm_days for d, f in zip(by_firm["day"], by_firm["cause_firm"],
                                                    strict=True))
    assert np.array_equal(firms["legal_rep"].to_numpy()[by_firm["cause_firm"]], by_firm["person"])
    # everyone flagged collateral at the end has a live collateral sanction in the log
    last = china.timeseries["day"].iloc[-1]
    flagged = people.loc[people["collateral"], "id"].to_numpy()
    assert flagged.shape[0] > 0
    live = col[(col["until"] > last) & col["kind"].isin(["school_ban", "legal_rep_ban"])]
    assert np.isin(flagged, live["person"]).all()
    # and is sanctioned only because of others: not listed themselves
    assert not people.loc[people["collateral"], "listed"].any()
    assert china.timeseries["n_collateral_sanctioned"].iloc[-1] == flagged.shape[0]


def test_firms_penalised_for_refusing_political_demands_are_foreign(china):
    frec = china.tables["firm_records"]
    refused = frec.loc[frec["behaviour"] == "refused_political_demand", "firm"]
    assert china.firms["foreign"].to_numpy()[refused].all()


def test_same_seed_same_society():
    a = scoresim.run("china", agents=5000, days=30, seed=3, records="none")
    b = scoresim.run("china", agents=5000, days=30, seed=3, records="none")
    pd.testing.assert_frame_equal(a.people, b.people)
    pd.testing.assert_frame_equal(a.collateral, b.collateral)
    pd.testing.assert_frame_equal(a.firms, b.firms)


# --- peer ratings --------------------------------------------------------------------------
def test_peer_ratings_against_a_python_twin():
    n = 2000
    cfg, region, occ, ties = _network(n=n)
    rng = np.random.default_rng(0)
    standing = np.zeros((n, 4), np.int32)
    standing[:, SCORE] = rng.integers(1000, 5000, n)
    weight = np.full(n, 20.0, np.float32)
    bad = np.array([3, 17, 400], np.int64)
    keys = np.array([stream_key(SEED, "peer_rating", p) for p in ("raters", "contact", "stars")],
                    dtype=np.uint64)
    log_q = np.log1p(-0.2)
    s2, w2 = standing.copy(), weight.copy()
    rated, delta = _rate(5, n, log_q, keys, ties.offsets, ties.neighbours, standing, weight,
                         bad, 0.7, 1.0, 2.0)
    # twin: the same draws, plain Python
    i, k, want = -1, 0, []
    total = 0
    while True:
        i += 1 + geometric_skip(uniform(keys[0], np.uint64(5), np.uint64(k)), log_q)
        if i >= n:
            break
        k += 1
        c = ties.contacts(i)
        j = int(c[min(len(c) - 1, int(uniform(keys[1], np.uint64(i), np.uint64(5)) * len(c)))])
        stars = s2[j, SCORE] / MILLI
        r = stars + 0.7 * normal(keys[2], np.uint64(i), np.uint64(5)) - (1.0 if j in bad else 0)
        r = min(5.0, max(1.0, r))
        w = (min(5.0, max(0.0, s2[i, SCORE] / MILLI)) / 5.0) ** 2.0
        new = (float(w2[j]) * stars + w * r) / (float(w2[j]) + w)
        w2[j] += np.float32(w)
        m = int(round(new * MILLI))
        total += m - s2[j, SCORE]
        s2[j, SCORE] = m
        want.append(j)
    assert np.array_equal(rated, want)
    assert np.array_equal(standing, s2) and np.array_equal(weight, w2) and delta == total
    # about n * 0.2 ratings: binomial sd sqrt(n p (1 - p))
    assert abs(len(want) - 400) < SIGMAS * np.sqrt(2000 * 0.2 * 0.8)


def test_nosedive_ratings_weigh_the_well_rated_more():
    r = scoresim.run("nosedive", agents=5000, days=20, seed=SEED, records="none")
    assert r.timeseries["n_peer_ratings"].sum() > 0.15 * 5000 * 20
    people = r.people
    assert people["score"].std() > 0  # ratings moved the stars
    assert {"degree"} <= set(people.columns)


# --- bad input is refused ------------------------------------------------------------------
@pytest.mark.parametrize("sets, says", [
    ({"regions.rongcheng.share": 0.5}, "shares must sum to 1"),
    ({"regions.rongcheng.scheme": "atlantis"}, "unknown scheme"),
    ({"network": None}, "peer_rating needs a network"),
    ({"schemes.suqian.travel_ban_grades": ["Z"]}, "unknown grade"),
    ({"network.within_occupation": 0.95}, "cannot exceed"),
    ({"households": None}, "needs a households section"),
])
def test_bad_society_input_is_refused(sets, says):
    base = "nosedive" if "network" in sets and sets["network"] is None else "china"
    with pytest.raises(ScenarioError, match=says):
        load_scenario(base, sets)


def test_society_tables_survive_the_run_folder(tmp_path):
    r = scoresim.run("china", agents=3000, days=20, seed=SEED, records="none",
                     out=tmp_path / "run")
    back = scoresim.runs.results.load(tmp_path / "run")
    # china also fields surveys (opinion: and surveys: are on in the built-in)
    assert set(back.tables) == {"firms", "firm_records", "collateral", "surveys"}
    pd.testing.assert_frame_equal(back.firms, r.firms)
    pd.testing.assert_frame_equal(back.tables["surveys"], r.tables["surveys"])
    assert {"household", "region", "employer", "consumption_banned", "collateral"} <= set(
        back.people.columns)
    assert "n_collateral_sanctioned" in back.timeseries
