"""Firms: companies with a legal representative, employees, a credit file and a blacklist.

The seed system scores companies as well as people (3.59M companies were
blacklisted in 2018, docs/facts.md), and when a company defaults its legal
representative is bound by the consumption ban (SPC, 2010/2015). Firms are few
beside people, so this module keeps a handful of small arrays over firms and a
calendar of their due events: tax arrears, environmental and product-quality
violations, court defaults and, for foreign firms such as airlines, political
demands they may refuse. A firm's day costs its events.

Firms are drawn from aggregate shares only: a sector, a region (that of its
legal representative), foreign or not; employees pick a firm of their own
region, bigger firms more often (firm k of a region is picked with density
falling like 1/sqrt(k), a heavy-tailed size distribution: an assumption).
"""

from __future__ import annotations

from typing import Any

import numba as nb
import numpy as np
import pandas as pd

from scoresim.model.calendar import Calendar
from scoresim.model.module import Module, Today
from scoresim.model.random import geometric_skip, stream_key, uniform, uniforms
from scoresim.model.rulebook import cut_offs, grades_of
from scoresim.model.society import draw_categorical
from scoresim.model.world import World


class Firms(Module):
    name = "firms"

    section = "firms"
    interacts = True

    def __init__(self, world: World):
        super().__init__(world)
        scenario, society, seed, days = world.scenario, world.society, world.seed, world.days
        cfg = scenario.firms
        n = society.n
        self.days = days
        self.n_firms = k = max(1, round(n * cfg.per_person))
        self.sector_names = list(cfg.sector_shares)
        self.sector = draw_categorical(seed, "firm_sector",
                                       np.array(list(cfg.sector_shares.values())), k)
        self.foreign = uniforms(stream_key(seed, "firms", "foreign"),
                                np.arange(k, dtype=np.int64), np.uint64(0)) < cfg.foreign_share
        # people by region, so that a firm's representative and staff live in its region
        region = society.region if society.region is not None else np.zeros(n, np.uint8)
        n_regions = max(1, len(society.region_names))
        by_region = np.argsort(region, kind="stable")
        u_rep = uniforms(stream_key(seed, "firms", "legal_rep"), np.arange(k, dtype=np.int64),
                         np.uint64(0))
        self.legal_rep = by_region[np.minimum(n - 1, (u_rep * n).astype(np.int64))]
        # firms numbered region by region: a region's firms are one id block
        order = np.argsort(region[self.legal_rep], kind="stable")
        self.legal_rep = self.legal_rep[order]
        self.region = region[self.legal_rep]
        firm_start = np.searchsorted(self.region, np.arange(n_regions + 1))
        self.employer = np.full(n, -1, dtype=np.int32)
        _employ(stream_key(seed, "firms", "employer"), region, firm_start, cfg.employed_share,
                self.employer)
        self.size = np.bincount(self.employer[self.employer >= 0], minlength=k).astype(np.int64)

        self.behaviour_names = list(cfg.behaviours)
        bs = list(cfg.behaviours.values())
        self.rates = np.array([b.rate for b in bs], dtype=np.float64)
        self.detection = np.array([b.detection for b in bs], dtype=np.float64)
        # int64 like every score: a firm's score is the sum of all its records' points and
        # joint punishment's, which passes 2**31 in a long run (int32 wrapped around silently)
        self.points = np.array([b.points for b in bs], dtype=np.int64)
        self.lists = np.array([b.lists for b in bs], dtype=np.bool_)
        self.foreign_only = np.array([b.foreign_only for b in bs], dtype=np.bool_)
        self.grade_names = [g.name for g in cfg.grades]
        self.thresholds = cut_offs(cfg.grades)
        self.trusted = np.zeros(len(self.grade_names), dtype=np.bool_)
        for g in cfg.trusted_grades:
            self.trusted[self.grade_names.index(g)] = True
        self.trusted_factor = cfg.trusted_inspection_factor
        self.blacklist_days = cfg.blacklist_days
        self.score = np.full(k, cfg.initial, dtype=np.int64)
        self.listed_until = np.zeros(k, dtype=np.int32)
        self.n_b = len(bs)
        self.clock_keys = np.array([stream_key(seed, "firms", f"clock:{b}")
                                    for b in self.behaviour_names], dtype=np.uint64)
        # keyed by the behaviour's name (a firm and a day as counter), never its position
        self.detect_keys = np.array([stream_key(seed, "firms", f"detection:{b}")
                                     for b in self.behaviour_names], dtype=np.uint64)
        self.calendar = Calendar(days, np.int64)
        codes = np.arange(k * self.n_b, dtype=np.int64)
        self.calendar.push(codes, _next_days(codes, -1, self.n_b, self.rates, self.foreign,
                                             self.foreign_only, self.clock_keys))
        self._records: list[tuple[np.ndarray, ...]] = []
        self.n_listed_today = 0

    def grade(self) -> np.ndarray:
        return grades_of(self.score, self.thresholds).astype(np.uint8)  # the rulebook's rule

    def listed(self, day: int) -> np.ndarray:
        return self.listed_until > day

    def step(self, today: Today) -> None:
        """Today's firm events, their records and points; the firms listed today.

        A firm already listed and listed again has its listing extended, and is listed
        today too, so that what binds its representative is extended with it.
        """
        today.listed_firms = self.events(today.day)

    def columns(self) -> list[str]:
        return ["n_firms_listed", "n_firms_trusted"]

    def measure(self, today: Today, row: dict[str, Any]) -> None:
        row["n_firms_listed"] = int(self.listed(today.day).sum())
        row["n_firms_trusted"] = int(self.trusted[self.grade()].sum())

    def people(self) -> dict[str, Any]:
        return {"employer": self.employer}

    def tables(self) -> dict[str, pd.DataFrame]:
        return {"firms": self.frame(self.world.days - 1), "firm_records": self.records_frame()}

    def events(self, day: int) -> np.ndarray:
        codes = self.calendar.pop(day)
        if codes.shape[0] == 0:
            return np.zeros(0, dtype=np.int64)
        self.calendar.push(codes, _next_days(codes, day, self.n_b, self.rates, self.foreign,
                                             self.foreign_only, self.clock_keys))
        firm, b = codes // self.n_b, codes % self.n_b
        p = self.detection[b] * np.where(self.trusted[self.grade()[firm]], self.trusted_factor, 1.0)
        seen = _detected(self.detect_keys, firm, b, day, p)  # serial: a day has few firm events
        firm, b = firm[seen], b[seen]
        if firm.shape[0] == 0:
            return np.zeros(0, dtype=np.int64)
        np.add.at(self.score, firm, self.points[b])
        self._records.append((np.full(firm.shape[0], day, np.int32), firm, b.astype(np.int8),
                              self.points[b].astype(np.int32)))  # one record: |points| <= 1e6
        listing = np.unique(firm[self.lists[b]])
        self.listed_until[listing] = day + self.blacklist_days
        return listing

    def penalise(self, firm: np.ndarray, points: int) -> None:
        """Joint punishment reaching a firm: credit points for its listed employees."""
        np.add.at(self.score, firm, np.int64(points))

    def frame(self, day: int) -> pd.DataFrame:
        """firms.parquet: each firm's final state."""
        return pd.DataFrame({
            "firm": np.arange(self.n_firms, dtype=np.int64),
            "legal_rep": self.legal_rep.astype(np.int64),
            "sector": pd.Categorical.from_codes(self.sector.astype(np.int8), self.sector_names),
            "region": self.region.astype(np.int16),
            "foreign": self.foreign,
            "size": self.size,
            "score": self.score,
            "grade": pd.Categorical.from_codes(self.grade().astype(np.int8), self.grade_names),
            "listed": self.listed(day),
            "listed_until": self.listed_until,
        })

    def state(self) -> dict[str, np.ndarray]:
        """Scores, blacklist ends, the firms' event calendar and their credit file so far."""
        st = {"score": self.score, "listed_until": self.listed_until,
              "listed_today": np.array(self.n_listed_today)}
        st.update({f"calendar_{k}": v for k, v in self.calendar.state().items()})
        if self._records:
            for j, col in enumerate(zip(*self._records, strict=True)):
                st[f"log_{j}"] = np.concatenate(col)
        return st

    def restore(self, st: dict[str, np.ndarray]) -> None:
        self.score[:] = st["score"]
        self.listed_until[:] = st["listed_until"]
        self.n_listed_today = int(st["listed_today"])
        self.calendar.restore({"entries": st["calendar_entries"], "days": st["calendar_days"]})
        cols = [st[f"log_{j}"] for j in range(len([k for k in st if k.startswith("log_")]))]
        self._records = [tuple(cols)] if cols else []

    def records_frame(self) -> pd.DataFrame:
        """firm_records.parquet: each recorded firm event (the firms' credit file)."""
        cols = ([np.concatenate(c) for c in zip(*self._records, strict=True)] if self._records
                else [np.zeros(0, np.int32), np.zeros(0, np.int64), np.zeros(0, np.int8),
                      np.zeros(0, np.int32)])
        return pd.DataFrame({
            "day": cols[0], "firm": cols[1].astype(np.int64),
            "behaviour": pd.Categorical.from_codes(cols[2], self.behaviour_names),
            "points": cols[3],
        })

    @property
    def nbytes(self) -> int:
        return (self.employer.nbytes + self.score.nbytes + self.listed_until.nbytes
                + self.legal_rep.nbytes + self.calendar.nbytes)


@nb.njit(parallel=True, cache=True)
def _employ(key, region, firm_start, employed_share, employer):
    for i in nb.prange(region.shape[0]):
        if uniform(key, np.uint64(i), np.uint64(0)) >= employed_share:
            continue
        r = region[i]
        lo, hi = firm_start[r], firm_start[r + 1]
        if hi == lo:
            continue
        u = uniform(key, np.uint64(i), np.uint64(1))
        employer[i] = lo + min(hi - lo - 1, np.int64(u * u * (hi - lo)))


@nb.njit(cache=True)
def _next_days(codes, day, n_b, rates, foreign, foreign_only, clock_keys):
    out = np.empty(codes.shape[0], dtype=np.int64)
    for k in range(codes.shape[0]):
        f = codes[k] // n_b
        b = codes[k] % n_b
        rate = rates[b]
        if foreign_only[b] and not foreign[f]:
            rate = 0.0
        if rate <= 0.0:
            out[k] = 1 << 40
            continue
        log_q = -np.inf if rate >= 1.0 else np.log1p(-rate)
        u = uniform(clock_keys[b], np.uint64(f), np.uint64(day + 1))
        out[k] = day + 1 + geometric_skip(u, log_q)
    return out


@nb.njit(cache=True)
def _detected(keys, firm, behaviour, day, p):
    out = np.empty(firm.shape[0], dtype=np.bool_)
    for k in range(firm.shape[0]):
        out[k] = uniform(keys[behaviour[k]], np.uint64(firm[k]), np.uint64(day)) < p[k]
    return out
