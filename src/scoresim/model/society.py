"""The synthetic society: people as arrays, built from aggregate shares only.

There is no object per person and no field for a name, an identity number, a
face or an address: a person is an index into a few small typed arrays, and
every trait is drawn from published marginal shares, never from individual
records. Traits are pure functions of (seed, trait, person), computed when a
module first asks for one and kept from then on, so a scenario pays memory
only for the traits it uses, and the same person has the same traits in every
scenario with the same seed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numba as nb
import numpy as np
import pandas as pd

from scoresim.model.households import ROLE_NAMES, Households, build_households, draw_by_household
from scoresim.model.random import stream_key, uniform
from scoresim.model.ties import Ties, build_ties
from scoresim.scenario.schema import Scenario

if TYPE_CHECKING:
    from scoresim.model.rulebook import Schemes

CHUNK = 1 << 20


@dataclass
class Society:
    n: int
    seed: int
    group: np.ndarray  # uint8, the demographic group face recognition treats differently
    group_shares: np.ndarray
    propensity_sigma: float
    levels: dict[str, list[str]] = field(default_factory=dict)
    shares: dict[str, np.ndarray] = field(default_factory=dict)
    _traits: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    # built only when the scenario asks (reference allocates none of these)
    households: Households | None = None
    ties: Ties | None = None
    region: np.ndarray | None = None  # uint8 per person, only with more than one region
    region_names: list[str] = field(default_factory=list)
    key: str = ""  # society_key of the scenario it was built for

    @classmethod
    def build(cls, scenario: Scenario, n: int, seed: int) -> Society:
        """The society of `scenario`'s people. It reads only what `society_inputs` names:
        a member of a study that varies nothing else can share it (World(society=))."""
        pop = scenario.population
        shares = np.asarray(pop.group_shares, dtype=np.float64)
        group = draw_categorical(seed, "group", shares, n)
        society = cls(n=n, seed=seed, group=group, group_shares=shares,
                      propensity_sigma=pop.propensity_sigma,
                      key=society_key(scenario) if (n, seed) == (scenario.agents,
                                                                 scenario.seed) else "")
        for name, attr in pop.attributes.items():
            society.levels[name] = list(attr.levels)
            society.shares[name] = np.asarray(attr.shares, dtype=np.float64)
        society.levels["group"] = [str(g) for g in range(shares.shape[0])]
        if scenario.households is not None:
            society.households = build_households(seed, n, scenario.households)
        if scenario.regions is not None:
            society.region_names = list(scenario.regions)
            society.region = society._draw_region(
                np.array([r.share for r in scenario.regions.values()], dtype=np.float64))
        if scenario.network is not None:
            occupation = society.trait("occupation")
            region = society.region if society.region is not None else np.zeros(n, np.uint8)
            society.ties = build_ties(seed, scenario.network, region,
                                      max(1, len(society.region_names)), occupation,
                                      len(society.levels["occupation"]))
        return society

    def _draw_region(self, shares: np.ndarray) -> np.ndarray:
        """A household lives in one region: the region is drawn once per household."""
        if self.households is None:
            return draw_categorical(self.seed, "region", shares, self.n)
        cum = np.cumsum(shares)
        cum[-1] = 1.0
        out = np.empty(self.n, dtype=np.uint8)
        draw_by_household(stream_key(self.seed, "society", "region"), cum,
                          self.households.household, self.households.start, out)
        return out

    def contacts(self, person: int) -> np.ndarray:
        """The people `person` has ties with (int32 ids; empty without a network)."""
        if self.ties is None:
            return np.zeros(0, dtype=np.int32)
        return self.ties.contacts(person)

    def relatives(self, person: int) -> np.ndarray:
        """The other members of `person`'s household (empty without households)."""
        if self.households is None:
            return np.zeros(0, dtype=np.int64)
        m = self.households.members(person)
        return m[m != person]

    def trait(self, name: str) -> np.ndarray:
        """The level index (uint8) of trait `name` for every person, drawn on first use."""
        if name == "group":
            return self.group
        if name not in self._traits:
            if name not in self.shares:
                known = ", ".join(["group", *self.shares])
                raise KeyError(f"unknown trait '{name}' (known: {known})")
            self._traits[name] = draw_categorical(self.seed, name, self.shares[name], self.n)
        return self._traits[name]

    def trait_of(self, name: str, lo: int, hi: int) -> np.ndarray:
        """Trait `name` of people lo..hi-1: a slice of the whole array where a module asked
        for it, else drawn for them alone and not kept (a run in blocks, lives.py, pays
        for the traits it writes one block at a time)."""
        if name == "group" or name in self._traits:
            return self.trait(name)[lo:hi]
        if name not in self.shares:
            return self.trait(name)  # the KeyError that names the known traits
        return draw_categorical(self.seed, name, self.shares[name], hi - lo, first=lo)

    def trait_columns(self, lo: int = 0, hi: int | None = None) -> dict[str, pd.Categorical]:
        """people.parquet's trait columns (of people lo..hi-1), each with its levels' names."""
        hi = self.n if hi is None else hi
        return {name: pd.Categorical.from_codes(self.trait_of(name, lo, hi).astype(np.int8),
                                                categories=self.levels[name])
                for name in self.trait_names[1:]}

    def people(self, schemes: Schemes, lo: int = 0, hi: int | None = None) -> dict[str, object]:
        """people.parquet's region, scheme, household and network columns, where they exist
        (of people lo..hi-1)."""
        hi = self.n if hi is None else hi
        cols: dict[str, object] = {}
        if self.region is not None:
            cols["region"] = pd.Categorical.from_codes(self.region[lo:hi].astype(np.int16),
                                                       categories=self.region_names)
            if schemes.of_person.shape[0]:
                cols["scheme"] = pd.Categorical.from_codes(
                    schemes.of_person[lo:hi].astype(np.int16), categories=schemes.names)
        if self.households is not None:
            cols["household"] = self.households.household[lo:hi]
            cols["household_role"] = pd.Categorical.from_codes(
                self.households.role[lo:hi].astype(np.int8), categories=ROLE_NAMES)
        if self.ties is not None:
            cols["degree"] = self.ties.degree()[lo:hi].astype(np.int32)
        return cols

    @property
    def trait_names(self) -> list[str]:
        return ["group", *self.shares]

    @property
    def nbytes(self) -> int:
        extra = sum(x.nbytes for x in (self.households, self.ties, self.region) if x is not None)
        return self.group.nbytes + sum(a.nbytes for a in self._traits.values()) + extra


def society_inputs(scenario: Scenario) -> dict[str, object]:
    """Everything Society.build reads (and a little more: a region's whole entry, not only
    its share): two scenarios equal here have the same society."""
    return scenario.model_dump(mode="json", include={"agents", "seed", "population",
                                                     "households", "regions", "network"})


def society_key(scenario: Scenario) -> str:
    """A digest of society_inputs(scenario): the key under which studies share a society."""
    text = json.dumps(society_inputs(scenario), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def draw_categorical(seed: int, trait: str, shares: np.ndarray, n: int,
                     first: int = 0) -> np.ndarray:
    """Level of `trait` for people first..first+n-1: keyed by the trait's name and the
    person, not by draw order (so any range of people can be drawn on its own)."""
    cum = np.cumsum(np.asarray(shares, dtype=np.float64))
    cum[-1] = 1.0
    out = np.empty(n, dtype=np.uint8)
    _draw(stream_key(seed, "society", trait), cum, out, first)
    return out


@nb.njit(parallel=True, cache=True)
def _draw(key, cum, out, first):
    n = out.shape[0]
    n_chunks = (n + CHUNK - 1) // CHUNK
    for c in nb.prange(n_chunks):
        for i in range(c * CHUNK, min(n, (c + 1) * CHUNK)):
            u = uniform(key, np.uint64(first + i), np.uint64(0))
            g = 0
            while g < cum.shape[0] - 1 and u >= cum[g]:
                g += 1
            out[i] = g
