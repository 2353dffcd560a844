"""The scenario schema: the one place where a scenario (data) meets the modules (code).

Every field a scenario file may hold is declared here, with its type, its
bounds and, where it is a default, the source it rests on. Models are strict
(a string is never silently turned into a number) and closed (an unknown field
is an error), because a typo in a hand-written scenario must never run as a
different experiment than the one its author meant.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Probability = Annotated[float, Field(ge=0.0, le=1.0)]
Rate = Annotated[float, Field(ge=0.0, le=1.0)]
Days = Annotated[int, Field(ge=1, le=36_500)]
Name = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z][A-Za-z0-9_\-]*$")]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class Attribute(Model):
    """A categorical trait of people, drawn from its marginal shares (never from records)."""

    levels: list[Name] = Field(min_length=1, max_length=64)
    shares: list[Probability] = Field(min_length=1, max_length=64)
    source: str = ""

    @model_validator(mode="after")
    def _shares_fit(self) -> Attribute:
        if len(self.levels) != len(self.shares):
            raise ValueError(
                f"levels and shares differ in length ({len(self.levels)} vs {len(self.shares)})"
            )
        if len(set(self.levels)) != len(self.levels):
            raise ValueError("levels must be unique")
        total = sum(self.shares)
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"shares must sum to 1, they sum to {total:g}")
        return self


class Population(Model):
    """Who lives in the synthetic society, from aggregate shares only."""

    group_shares: list[Probability] = Field(
        default_factory=lambda: [0.8, 0.2],
        min_length=1,
        max_length=8,
        description="Share of each demographic group; group g is the g-th entry. "
        "Face recognition error rates are given per group.",
    )
    propensity_sigma: Annotated[float, Field(ge=0.0, le=5.0)] = Field(
        0.5,
        description="Spread of each person's propensity for each behaviour: "
        "m ~ LogNormal(-sigma^2/2, sigma), so E[m] = 1.",
    )
    attributes: dict[Name, Attribute] = Field(
        default_factory=dict,
        description="Further traits (sex, age band, urban, income band, education, "
        "occupation...), each drawn independently from its marginal shares.",
    )
    source: str = ""

    @model_validator(mode="after")
    def _shares_sum_to_one(self) -> Population:
        total = sum(self.group_shares)
        if abs(total - 1.0) > 1e-9:
            raise ValueError(f"group_shares must sum to 1, they sum to {total:g}")
        return self


class Behaviour(Model):
    """A kind of true event: what people really do, whether or not anyone sees it."""

    rate: Rate = Field(description="Probability per person and day, before propensity.")
    channel: Name | None = Field(None, description="The observation channel that can record it.")
    speech: bool = Field(False, description="True for speech (counted in n_speech_events).")
    source: str = ""


class Channel(Model):
    """A way the system sees events: a register that records, or a camera that captures."""

    kind: Literal["register", "camera"]
    record_probability: Probability = Field(
        1.0, description="register: probability that a true event becomes a record."
    )
    capture_probability: Probability = Field(
        1.0, description="camera: probability that a true event is captured on camera."
    )
    face_recognition: Name | None = Field(
        None, description="camera: the face recognition profile that attributes captures."
    )
    source: str = ""

    @model_validator(mode="after")
    def _camera_needs_face_recognition(self) -> Channel:
        if self.kind == "camera" and self.face_recognition is None:
            raise ValueError("a camera channel needs a face_recognition profile")
        if self.kind == "register" and self.face_recognition is not None:
            raise ValueError("face_recognition applies to camera channels only")
        return self


class FaceRecognition(Model):
    """Face recognition, modelled by its error rates only (never run on images)."""

    tmr: Probability = Field(0.90, description="True-match rate: attributed to the true actor.")
    fmr: list[Probability] = Field(
        description="False-match rate per demographic group of the true actor: "
        "attributed to another person of the same group."
    )
    source: str = ""

    @model_validator(mode="after")
    def _rates_fit(self) -> FaceRecognition:
        worst = self.tmr + max(self.fmr, default=0.0)
        if worst > 1.0 + 1e-12:
            raise ValueError(f"tmr + fmr must not exceed 1 (it is {worst:g})")
        return self


class Grade(Model):
    name: Name
    min_score: int | None = Field(
        None, description="Lowest score of the grade; null for the bottom grade."
    )


class Scoring(Model):
    """Rules that turn records into points and scores into grades."""

    initial: int = Field(1000, ge=-10**8, le=10**8)
    points: dict[Name, Annotated[int, Field(ge=-10**6, le=10**6)]] = Field(default_factory=dict)
    grades: list[Grade] = Field(min_length=1, max_length=8)
    source: str = ""

    @model_validator(mode="after")
    def _grades_descend(self) -> Scoring:
        names = [g.name for g in self.grades]
        if len(set(names)) != len(names):
            raise ValueError("grade names must be unique")
        mins = [g.min_score for g in self.grades]
        if mins[-1] is not None:
            raise ValueError("the last (bottom) grade must have min_score: null")
        if any(m is None for m in mins[:-1]):
            raise ValueError("every grade but the bottom one needs a min_score")
        if any(a <= b for a, b in zip(mins[:-2], mins[1:-1], strict=False)):
            raise ValueError("grades must be listed from the highest min_score down")
        return self


class DishonestList(Model):
    """The national list of "dishonest persons subject to enforcement" (SPC)."""

    triggers: list[Name] = Field(description="Behaviours whose records put the subject on it.")
    duration_days: Days = 730
    repayment_rate: Rate = Field(
        0.0, description="Daily probability that a listed person pays and is removed early."
    )
    source: str = ""


class TravelBan(Model):
    grades: list[Name] = Field(default_factory=list, description="Grades that are banned.")
    dishonest_list: bool = Field(True, description="Listed people are banned.")
    source: str = ""


class ConsumptionBan(Model):
    dishonest_list: bool = True
    source: str = ""


class MediaSuspension(Model):
    triggers: list[Name]
    duration_days: Days = 180
    source: str = ""


class Shaming(Model):
    triggers: list[Name] = Field(description="Behaviours whose records are shown on public screens.")
    source: str = ""


class Sanctions(Model):
    dishonest_list: DishonestList | None = None
    travel_ban: TravelBan | None = None
    consumption_ban: ConsumptionBan | None = None
    media_suspension: MediaSuspension | None = None
    shaming: Shaming | None = None


class Reward(Model):
    name: Name
    grades: list[Name]
    source: str = ""


# --- society: households, ties, regions and their pilots, firms, joint punishment ---------
class Households(Model):
    """Households as consecutive blocks of people: a head, maybe a partner, children, parents."""

    size_shares: list[Probability] = Field(
        min_length=1, max_length=16,
        description="Share of households of size 1, 2, 3, ...; people live in blocks of "
        "these sizes.",
    )
    couple_share: Probability = Field(
        0.8, description="Share of households of two or more whose second member is a partner.")
    parent_share: Probability = Field(
        0.15, description="Share of households of three or more whose last member is a parent "
        "of the head (three generations).")
    source: str = ""

    @model_validator(mode="after")
    def _sum_to_one(self) -> Households:
        total = sum(self.size_shares)
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"size_shares must sum to 1, they sum to {total:g}")
        return self


class Network(Model):
    """Social ties: each person draws about half their degree; the others draw the rest."""

    degree_min: int = Field(10, ge=0, le=1000)
    degree_max: int = Field(20, ge=0, le=1000)
    within_region: Probability = Field(
        0.9, description="Share of a person's drawn ties made inside their own region.")
    within_occupation: Probability = Field(
        0.4, description="Share of a person's drawn ties made inside their own region and "
        "occupation (part of within_region).")
    source: str = ""

    @model_validator(mode="after")
    def _bounds(self) -> Network:
        if self.degree_max < self.degree_min:
            raise ValueError("degree_max must be at least degree_min")
        if self.within_occupation > self.within_region:
            raise ValueError("within_occupation is part of within_region and cannot exceed it")
        return self


class Scheme(Scoring):
    """A region's own pilot scheme: its scale, points, grades and which grades are banned.

    With regions, each scheme's travel_ban_grades take the place of
    sanctions.travel_ban.grades (whose dishonest_list switch still applies
    everywhere), and the timeseries' n_grade_* and rewards count grade positions
    (0 = each scheme's top grade) under the names of the top-level `scoring`.
    """

    travel_ban_grades: list[Name] = Field(default_factory=list)


class Region(Model):
    share: Probability
    scheme: Name | None = Field(
        None, description="The region's pilot scheme (a key of `schemes`); null: no score, "
        "only the national dishonest list.")
    source: str = ""


class FirmBehaviour(Model):
    rate: Rate = Field(description="Probability per firm and day.")
    detection: Probability = Field(
        1.0, description="Probability an inspection or court records it.")
    points: int = Field(0, ge=-10**6, le=10**6)
    lists: bool = Field(False, description="A record puts the firm on the corporate blacklist.")
    foreign_only: bool = Field(False, description="Only foreign firms face it (political demands).")
    source: str = ""


class Firms(Model):
    """Firms: few beside people, so an event-driven module over firms is enough."""

    per_person: Annotated[float, Field(gt=0.0, le=1.0)] = Field(
        0.03, description="Firms per person.")
    sector_shares: dict[Name, Probability] = Field(
        default_factory=lambda: {"manufacturing": 0.3, "services": 0.5, "transport": 0.05,
                                 "construction": 0.15})
    foreign_share: Probability = 0.01
    employed_share: Probability = Field(0.6, description="Share of people with an employer.")
    initial: int = Field(100, ge=-10**8, le=10**8)
    grades: list[Grade] = Field(min_length=1, max_length=8)
    behaviours: dict[Name, FirmBehaviour] = Field(min_length=1, max_length=32)
    blacklist_days: Days = 1095
    trusted_grades: list[Name] = Field(
        default_factory=list, description="Grades that get joint rewards (fewer inspections, "
        "faster approvals).")
    trusted_inspection_factor: Probability = Field(
        0.5, description="Trusted firms' violations are detected this much as often.")
    source: str = ""

    @model_validator(mode="after")
    def _check(self) -> Firms:
        total = sum(self.sector_shares.values())
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"sector_shares must sum to 1, they sum to {total:g}")
        Scoring(initial=self.initial, grades=self.grades)  # the grade checks
        names = [g.name for g in self.grades]
        for g in self.trusted_grades:
            if g not in names:
                raise _ref_error("firms.trusted_grades", g, "grade", names)
        return self


class JointPunishment(Model):
    """Who else a listing reaches (State Council Guofa [2016] No. 33; SPC consumption ban)."""

    school_ban_children: bool = Field(
        False, description="Children in a listed person's household are barred from "
        "high-fee private schools while the parent is listed.")
    relative_points: int = Field(
        0, ge=-10**6, le=0, description="Score points for each household member of a newly "
        "listed person.")
    employer_points: int = Field(
        0, ge=-10**6, le=0, description="Credit points for the employer of a newly listed person.")
    bind_legal_rep: bool = Field(
        True, description="A listed firm's legal representative is consumption- and travel-banned.")
    source: str = ""


class PeerRating(Model):
    """Ratings along ties, as in Black Mirror's "Nosedive": weighted by the rater's own score."""

    rate: Rate = Field(description="Probability per person and day of rating a contact.")
    noise: Annotated[float, Field(ge=0.0, le=5.0)] = Field(
        0.7, description="Spread of a rating around the rated person's current score (stars).")
    record_penalty: Annotated[float, Field(ge=0.0, le=5.0)] = Field(
        1.0, description="Stars taken off a rating when the rated person has a negative "
        "record today.")
    weight_power: Annotated[float, Field(ge=0.0, le=10.0)] = Field(
        2.0, description="A rating counts (rater's stars / 5) ** weight_power.")
    memory: Annotated[float, Field(gt=0.0, le=1e6)] = Field(
        50.0, description="Weight of the prior score, in full-weight ratings.")
    source: str = ""


class Scenario(Model):
    """A whole experiment: the society, what people do, how they are seen and judged."""

    name: Name
    description: str = ""
    seed: int = Field(1, ge=0, le=2**63 - 1)
    agents: int = Field(100_000, ge=1, le=10**10)
    days: Days = 365
    population: Population = Field(default_factory=Population)
    behaviours: dict[Name, Behaviour] = Field(min_length=1, max_length=64)
    channels: dict[Name, Channel] = Field(default_factory=dict)
    face_recognition: dict[Name, FaceRecognition] = Field(default_factory=dict)
    scoring: Scoring | None = None
    sanctions: Sanctions = Field(default_factory=Sanctions)
    rewards: list[Reward] = Field(default_factory=list)
    records: Literal["all", "sample", "none"] = "all"
    records_sample: Probability = Field(
        0.01, description="With records: sample, the share of people whose files are kept."
    )
    households: Households | None = None
    network: Network | None = None
    regions: dict[Name, Region] | None = None
    schemes: dict[Name, Scheme] = Field(default_factory=dict, max_length=254)
    firms: Firms | None = None
    joint_punishment: JointPunishment | None = None
    peer_rating: PeerRating | None = None

    @model_validator(mode="after")
    def _references_resolve(self) -> Scenario:
        n_groups = len(self.population.group_shares)
        for name, b in self.behaviours.items():
            if b.channel is not None and b.channel not in self.channels:
                raise _ref_error(f"behaviours.{name}.channel", b.channel, "channel", self.channels)
        for name, c in self.channels.items():
            if c.face_recognition is not None and c.face_recognition not in self.face_recognition:
                raise _ref_error(
                    f"channels.{name}.face_recognition",
                    c.face_recognition,
                    "face recognition profile",
                    self.face_recognition,
                )
        for name, fr in self.face_recognition.items():
            if len(fr.fmr) != n_groups:
                raise ValueError(
                    f"face_recognition.{name}.fmr: expected one rate per group "
                    f"({n_groups}), got {len(fr.fmr)}"
                )
        grade_names = [g.name for g in self.scoring.grades] if self.scoring else []
        if self.scoring is not None:
            for b in self.scoring.points:
                if b not in self.behaviours:
                    raise _ref_error(f"scoring.points.{b}", b, "behaviour", self.behaviours)
        s = self.sanctions
        for field, triggers in (
            ("dishonest_list", s.dishonest_list.triggers if s.dishonest_list else []),
            ("media_suspension", s.media_suspension.triggers if s.media_suspension else []),
            ("shaming", s.shaming.triggers if s.shaming else []),
        ):
            for b in triggers:
                if b not in self.behaviours:
                    raise _ref_error(f"sanctions.{field}.triggers", b, "behaviour", self.behaviours)
        banned_grades = s.travel_ban.grades if s.travel_ban else []
        for where, grades in [("sanctions.travel_ban.grades", banned_grades)] + [
            (f"rewards.{r.name}.grades", r.grades) for r in self.rewards
        ]:
            for g in grades:
                if g not in grade_names:
                    raise _ref_error(where, g, "grade", grade_names)
        _check_society(self)
        return self


def _ref_error(where: str, value: str, kind: str, known) -> ValueError:
    known_list = ", ".join(sorted(known)) or "none defined"
    return ValueError(f"{where}: unknown {kind} '{value}' (known: {known_list})")


def _check_society(sc: Scenario) -> None:
    """The society sections refer to each other; refuse what cannot be built."""
    if sc.regions is not None:
        total = sum(r.share for r in sc.regions.values())
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"regions: shares must sum to 1, they sum to {total:g}")
        if len(sc.regions) > 255:
            raise ValueError("regions: at most 255")
        if sc.scoring is None:
            raise ValueError("regions need a scoring section (it names the grade positions)")
        for name, r in sc.regions.items():
            if r.scheme is not None and r.scheme not in sc.schemes:
                raise _ref_error(f"regions.{name}.scheme", r.scheme, "scheme", sc.schemes)
    for name, scheme in sc.schemes.items():
        for b in scheme.points:
            if b not in sc.behaviours:
                raise _ref_error(f"schemes.{name}.points.{b}", b, "behaviour", sc.behaviours)
        names = [g.name for g in scheme.grades]
        for g in scheme.travel_ban_grades:
            if g not in names:
                raise _ref_error(f"schemes.{name}.travel_ban_grades", g, "grade", names)
    needs_households = sc.joint_punishment is not None and (
        sc.joint_punishment.school_ban_children or sc.joint_punishment.relative_points)
    if needs_households and sc.households is None:
        raise ValueError("joint_punishment of relatives needs a households section")
    if sc.peer_rating is not None and (sc.network is None or sc.scoring is None):
        raise ValueError("peer_rating needs a network section (ties) and a scoring section")
    if sc.joint_punishment is not None and sc.sanctions.dishonest_list is None:
        raise ValueError("joint_punishment needs sanctions.dishonest_list")
    if sc.network is not None and "occupation" not in sc.population.attributes:
        raise ValueError("network homophily needs population.attributes.occupation")
