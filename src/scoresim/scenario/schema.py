"""The scenario schema: the one place where a scenario (data) meets the modules (code).

Every field a scenario file may hold is declared here, with its type, its
bounds and, where it is a default, the source it rests on. Models are strict
(a string is never silently turned into a number) and closed (an unknown field
is an error), because a typo in a hand-written scenario must never run as a
different experiment than the one its author meant.
"""

from __future__ import annotations

import copy
import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from scoresim.scenario.timeline import CHANGEABLE, Change, as_date, kind_of, value_at

Probability = Annotated[float, Field(ge=0.0, le=1.0)]
Rate = Annotated[float, Field(ge=0.0, le=1.0)]
Days = Annotated[int, Field(ge=1, le=36_500)]
Multiplier = Annotated[float, Field(gt=0.0, le=1000.0)]
#: Bound on grade cut-offs: far beyond any score a run reaches (initial +-1e8, +-1e6 a
#: record), well inside the int64 the rulebook compares scores in.
MAX_SCORE = 10**12
Name = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z][A-Za-z0-9_\-]*$")]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class Attribute(Model):
    """A categorical trait of people, drawn from its marginal shares (never from records)."""

    levels: list[Name] = Field(min_length=1, max_length=64, description="The trait's levels.")
    shares: list[Probability] = Field(min_length=1, max_length=64, description="Share of people "
                                      "at each level, in order (sums to 1).")
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
    blocked_by: Literal["travel_ban", "consumption_ban"] | None = Field(
        None,
        description="A purchase that this ban stops: events by banned people are counted "
        "as blocked (n_blocked_<behaviour>), as flight and train tickets were.",
    )
    motive: Literal["own", "points"] = Field(
        "own", description="points: done only for the points on offer (gamified virtue); its "
        "rate is an upper bound that responses.gamified_virtue thins, and without it it never "
        "happens.",
    )
    source: str = ""


DelayDays = Annotated[int, Field(ge=0, le=3650)]


class FalseFlag(Model):
    """Events of a benign behaviour (posting online) that a filter wrongly flags as an offence."""

    behaviour: Name = Field(description="The benign behaviour this channel reads.")
    probability: Probability = Field(description="Chance that one benign event is flagged.")
    recorded_as: Name = Field(description="The offence a flagged event is recorded as.")
    source: str = ""


class MaliciousReport(Model):
    """Reports made up by an informant about a neighbour: records with no true actor."""

    behaviour: Name = Field(description="The informant's act of making a false report.")
    probability: Probability = Field(1.0, description="Chance that a made-up report is filed.")
    recorded_as: Name = Field(description="The offence the report alleges.")
    source: str = ""


class Channel(Model):
    """A way the system sees events: a register that records, or a camera that captures."""

    kind: Literal["register", "camera"] = Field(
        description="register: records what it sees; camera: captures, then face recognition "
        "names someone.")
    record_probability: Probability = Field(
        1.0, description="register: probability that a true event becomes a record."
    )
    capture_probability: Probability = Field(
        1.0, description="camera: probability that a true event is captured on camera."
    )
    face_recognition: Name | None = Field(
        None, description="camera: the face recognition profile that attributes captures."
    )
    # surveillance details (observation/): all off unless a scenario sets them
    place: Literal["street", "indoor", "transit"] | None = Field(
        None, description="camera: where it watches (a label; coverage differs by channel)."
    )
    coverage_by: Name | None = Field(
        None, description="camera: the trait (e.g. urban) whose level sets the coverage."
    )
    coverage: list[Probability] = Field(
        default_factory=list, max_length=64,
        description="camera: share of events within a camera's view, one per level of "
        "coverage_by; the capture probability applies within view.",
    )
    delay_min_days: DelayDays = Field(0, description="Fewest days between event and filing.")
    delay_max_days: DelayDays = Field(
        0, description="Most days between event and filing (uniform in between)."
    )
    linkage_error: Probability = Field(
        0.0, description="register: probability that a record is filed under another person "
        "with a similar identity (a nearby id) instead of the true actor.",
    )
    linkage_window: Annotated[int, Field(ge=1, le=10**6)] = Field(
        100, description="How far (in ids) a similar identity lies: linkage errors and the "
        "neighbours informants report on.",
    )
    false_flag: FalseFlag | None = Field(
        None, description="register: benign events this channel misreads as offences.")
    malicious_report: MaliciousReport | None = Field(
        None, description="register: fabricated reports about a neighbour.")
    voice_warning: Probability | None = Field(
        None, exclude_if=lambda v: v is None,
        description="camera: the crossing's loudspeaker warns a captured person (\"You are "
        "crossing the road illegally, step back!\"), who steps back with this probability "
        "before the offence is completed: the act is counted among the true events, but no "
        "record is made, so no points are taken and nobody is recognised, rightly or "
        "wrongly. Absent: no warning (the day loop only).")
    source: str = ""

    @model_validator(mode="after")
    def _camera_needs_face_recognition(self) -> Channel:
        if self.kind == "camera" and self.face_recognition is None:
            raise ValueError("a camera channel needs a face_recognition profile")
        if self.kind == "register" and self.face_recognition is not None:
            raise ValueError("face_recognition applies to camera channels only")
        if self.kind == "register" and (self.coverage_by or self.coverage or self.place):
            raise ValueError("place and coverage apply to camera channels only")
        if self.kind == "camera" and (self.linkage_error > 0 or self.false_flag
                                      or self.malicious_report):
            raise ValueError("linkage_error, false_flag and malicious_report apply to "
                             "register channels only (cameras err through face recognition)")
        if self.kind == "register" and self.voice_warning is not None:
            raise ValueError("voice_warning applies to camera channels only")
        if (self.coverage_by is None) != (not self.coverage):
            raise ValueError("coverage_by and coverage go together")
        if self.delay_max_days < self.delay_min_days:
            raise ValueError("delay_max_days must be at least delay_min_days")
        return self


class FaceRecognition(Model):
    """Face recognition, modelled by its error rates only (never run on images)."""

    tmr: Probability = Field(0.90, description="True-match rate: attributed to the true actor.")
    fmr: list[Probability] = Field(
        description="False-match rate per demographic group of the true actor: "
        "attributed to another person of the same group."
    )
    fmr_multipliers: dict[Name, list[Multiplier]] = Field(
        default_factory=dict,
        description="Per trait (sex, age_band, ...), one factor per level on the false-match rate.",
    )
    miss_multipliers: dict[Name, list[Multiplier]] = Field(
        default_factory=dict,
        description="Per trait (or group), one factor per level on the miss rate (1 - tmr).",
    )
    source: str = ""

    @model_validator(mode="after")
    def _rates_fit(self) -> FaceRecognition:
        worst = self.tmr + max(self.fmr, default=0.0)
        if worst > 1.0 + 1e-12:
            raise ValueError(f"tmr + fmr must not exceed 1 (it is {worst:g})")
        return self


class Grade(Model):
    """A grade of a scoring scheme: its name and the lowest score that reaches it."""

    name: Name = Field(description="The grade's name (n_grade_<name> in the timeseries).")
    min_score: Annotated[int, Field(ge=-MAX_SCORE, le=MAX_SCORE)] | None = Field(
        None, description="Lowest score of the grade; null for the bottom grade."
    )


class Scoring(Model):
    """Rules that turn records into points and scores into grades."""

    initial: int = Field(1000, ge=-10**8, le=10**8,
                         description="Everyone's score on day 0 (no clamping afterwards).")
    points: dict[Name, Annotated[int, Field(ge=-10**6, le=10**6)]] = Field(
        default_factory=dict, description="behaviour -> points each of its records adds "
        "(negative for a penalty); behaviours not named add nothing.")
    grades: list[Grade] = Field(min_length=1, max_length=8, description="From the highest "
                                "min_score down; the last (bottom) grade has min_score: null.")
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
    duration_days: Days = Field(730, description="Days a listing lasts (SPC 2017: two years).")
    repayment_rate: Rate = Field(
        0.0, description="Daily probability that a listed person pays and is removed early."
    )
    repeat_extension_days: list[Annotated[int, Field(ge=0, le=36_500)]] = Field(
        default_factory=lambda: [0, 0], min_length=2, max_length=2,
        description="A new listing of someone already listed runs duration_days plus an "
        "extension drawn uniformly from [min, max] days (SPC 2017: 1 to 3 years for repeats).",
    )
    source: str = ""

    @model_validator(mode="after")
    def _extension_ordered(self) -> DishonestList:
        lo, hi = self.repeat_extension_days
        if lo > hi:
            raise ValueError(f"repeat_extension_days: min {lo} exceeds max {hi}")
        return self


class TravelBan(Model):
    """Flights and high-speed rail barred: for low grades, and for the listed."""

    grades: list[Name] = Field(default_factory=list, description="Grades that are banned.")
    dishonest_list: bool = Field(True, description="Listed people are banned.")
    source: str = ""


class ConsumptionBan(Model):
    """The SPC's consumption ban (hotels, property, private schools ...) on listed people."""

    dishonest_list: bool = Field(True, description="Listed people are consumption-banned.")
    source: str = ""


class MediaSuspension(Model):
    """Social media accounts suspended after a record of a trigger (the Liu Hu case)."""

    triggers: list[Name] = Field(description="Behaviours whose records suspend the account.")
    duration_days: Days = Field(180, description="Days a suspension lasts; a new trigger "
                                "restarts it.")
    source: str = ""


class Shaming(Model):
    """Records of the triggers shown on public screens (Shenzhen's jaywalker screens)."""

    triggers: list[Name] = Field(
        description="Behaviours whose records are shown on public screens."
    )
    source: str = ""


class Sanctions(Model):
    """What records lead to: the dishonest list, bans, suspensions, shaming (each optional)."""

    dishonest_list: DishonestList | None = None
    travel_ban: TravelBan | None = None
    consumption_ban: ConsumptionBan | None = None
    media_suspension: MediaSuspension | None = None
    shaming: Shaming | None = None


class Reward(Model):
    """A joint reward for the trusted: counted daily as n_rewarded_<name>."""

    name: Name = Field(description="The reward's name (n_rewarded_<name> in the timeseries).")
    grades: list[Name] = Field(description="Grades that get it.")
    source: str = ""


class RecordCategory(Model):
    """A class of credit-file entry with its publication window (the 2026 repair rules)."""

    expires_after_days: Days | None = Field(
        None, description="Days after filing when the entry stops counting; null: never.")
    source: str = ""


class CreditFileRules(Model):
    """How long entries count: categories and which behaviour falls in which."""

    categories: dict[Name, RecordCategory] = Field(
        default_factory=dict, max_length=16, description="category -> its publication window.")
    category_of: dict[Name, Name] = Field(
        default_factory=dict, description="behaviour -> category; others never expire.")
    source: str = ""

    @model_validator(mode="after")
    def _categories_resolve(self) -> CreditFileRules:
        if "none" in self.categories:
            raise ValueError("categories: 'none' is reserved for entries without a category")
        for b, cat in self.category_of.items():
            if cat not in self.categories:
                raise _ref_error(f"category_of.{b}", cat, "category", self.categories)
        return self


class MetricsOptions(Model):
    """Optional metrics: they cost time and memory, so a scenario asks for them."""

    breakdown: list[Name] = Field(
        default_factory=list, max_length=16,
        description="Traits (group, sex, age_band, urban ...) to break daily outcomes down by "
        "(breakdown.parquet).",
    )
    channels: bool = Field(
        False, description="Daily per-channel counts: true events, records, correct records.")


# --- people respond to the system (scoresim.model.response) -----------------------------------
class Awareness(Model):
    """Only people who know the system exists respond to it."""

    initial_share: Probability = Field(description="Share aware on day 0.")
    from_sanction: Probability = Field(
        1.0, description="Probability that being sanctioned (banned, listed, suspended) "
        "makes one aware.")
    from_shaming: Probability = Field(
        0.0, description="Probability that one's own record shown on a shaming screen makes "
        "one aware (one must see it).")
    from_tie: Probability = Field(
        0.0, description="Probability that a contact's sanction or shaming makes one aware "
        "(needs a social network: society.ties).")
    publicity_reach: Annotated[float, Field(ge=0.0, le=1000.0)] = Field(
        0.0, description="People made aware, on average, by each publicly shamed record "
        "(random people: the fallback when there is no network).")
    source: str = ""


class Deterrence(Model):
    """Offences thinned by their perceived expected penalty (Becker 1968; Stafford & Warr 1993)."""

    sensitivity: Annotated[float, Field(ge=0.0, le=100.0)] = Field(
        description="keep = exp(-sensitivity * perceived catch probability * penalty points).")
    own_gain: Annotated[float, Field(ge=0.0, le=4.0)] = Field(
        0.5, description="Rise of one's risk multiplier per negative record on one's own file.")
    tie_gain: Annotated[float, Field(ge=0.0, le=4.0)] = Field(
        0.1, description="Rise of one's risk multiplier per negative record of a contact.")
    impunity_decay: Probability = Field(
        0.05, description="Share of the risk multiplier lost at each offence one commits "
        "(punishment avoidance lowers perceived risk).")
    sanction_points: Annotated[int, Field(ge=0, le=10**6)] = Field(
        0, description="Penalty, in points, that a list or suspension trigger is felt to add.")
    source: str = ""


class Chilling(Model):
    """Self-censorship of speech behaviours (after Daymude, Axelrod & Forrest 2025).

    A person speaks when boldness x desire (their propensity) x value outweighs the
    perceived expected punishment; temperature softens the best response into a logit.
    """

    value_points: Annotated[float, Field(gt=0.0, le=10**6)] = Field(
        description="Worth of speaking, in points, to a person of boldness 1 and average desire.")
    boldness_sigma: Annotated[float, Field(ge=0.0, le=5.0)] = Field(
        1.0, description="Boldness ~ LogNormal(-s^2/2, s), drawn per person.")
    temperature_points: Annotated[float, Field(gt=0.0, le=10**6)] = Field(
        10.0, description="Logit temperature: 0+ is Daymude et al.'s pure best response.")
    sanction_points: Annotated[int, Field(ge=0, le=10**6)] = Field(
        0, description="Penalty, in points, that a list or suspension trigger is felt to add.")
    source: str = ""


class GamifiedVirtue(Model):
    """Rewarded acts done for the points (behaviours with motive: points)."""

    motivated_share: Probability = Field(
        description="Share of aware people who do rewarded acts for points.")
    points_for_full_rate: Annotated[float, Field(gt=0.0, le=10**6)] = Field(
        10.0, description="Points on offer at which a motivated person acts at the full rate.")
    source: str = ""


class Avoidance(Model):
    """Keeping out of the cameras' sight, or leaving the pilot region."""

    camera_avoidance: Probability = Field(
        0.0, description="Share of an aware person's camera captures avoided (times their risk "
        "multiplier, capped at 1).")
    leave_probability: Probability = Field(
        0.0, description="Probability that a person with a negative record who is sanctioned "
        "(banned, listed or suspended) leaves the pilot region.")
    region_channels: list[Name] = Field(
        default_factory=list, description="Channels that stop seeing people who left.")
    source: str = ""


class Responses(Model):
    """How people adapt. Each part is optional; without `awareness` nobody responds."""

    awareness: Awareness
    deterrence: Deterrence | None = None
    chilling: Chilling | None = None
    gamified_virtue: GamifiedVirtue | None = None
    avoidance: Avoidance | None = None


# --- leaving the records: credit repair and appeals (scoresim.model.redress) ------------------
class RepairClass(Model):
    """One class of negative entry (minor, general, serious) under credit repair."""

    min_days: Annotated[int, Field(ge=0, le=36_500)] = Field(
        description="Earliest day after the record that repair can take effect.")
    max_days: Days = Field(description="Publication window: the record expires after it.")
    apply_probability: Probability = Field(0.0, description="Probability of applying for repair.")


class CreditRepair(Model):
    """Negative records leave the score when their window ends or when repaired."""

    minor_max_points: Annotated[int, Field(ge=0, le=10**6)] = Field(
        description="A penalty of at most this many points is minor.")
    serious_min_points: Annotated[int, Field(ge=1, le=10**6)] = Field(
        description="A penalty of at least this many points is serious.")
    minor: RepairClass
    general: RepairClass
    serious: RepairClass
    processing_days: Annotated[int, Field(ge=0, le=3650)] = Field(
        18, description="Application to decision: 10 working days to reply, 3 to decide.")
    approve_probability: Probability = Field(1.0, description="Chance an application is "
                                             "approved.")
    cost: Annotated[float, Field(ge=0.0, le=10**9)] = Field(
        0.0, description="Cost of an application (yuan; counted in repair_cost).")
    paid_share: Probability = Field(0.0, description="Share of applicants who pay for a course.")
    paid_approve_probability: Probability = Field(
        1.0, description="Chance a paid course's application is approved.")
    paid_cost: Annotated[float, Field(ge=0.0, le=10**9)] = Field(
        0.0, description="Cost of a paid course (yuan).")
    source: str = ""

    @model_validator(mode="after")
    def _classes_ordered(self) -> CreditRepair:
        if self.serious_min_points <= self.minor_max_points:
            raise ValueError("serious_min_points must exceed minor_max_points")
        for name in ("minor", "general", "serious"):
            c = getattr(self, name)
            if c.min_days > c.max_days:
                raise ValueError(f"{name}: min_days exceeds max_days")
        return self


class Appeals(Model):
    """Wrongly attributed records can be contested; success depends on the evidence."""

    file_probability: Probability = Field(description="Probability a wrong record is appealed.")
    notice_days: Annotated[int, Field(ge=0, le=3650)] = Field(
        7, description="Days from filing a record to filing its appeal.")
    decision_days: Annotated[int, Field(ge=0, le=3650)] = Field(
        18, description="Days from an appeal to its decision.")
    win_false_match: Probability = Field(
        description="A camera false match can be shown wrong (another person's face).")
    win_register: Probability = Field(
        0.2, description="A wrong register record (e.g. an informant's report).")
    win_fabricated: Probability = Field(
        0.05, description="A record fabricated by the authority is hard to disprove.")
    source: str = ""


# --- abuse: an authority targets chosen people (scoresim.model.abuse) -------------------------
class Abuse(Model):
    """Targeted downgrades and fabricated records, as in the Liu Hu case."""

    target: Literal["trait", "propensity"] = Field(
        description="trait: people with a trait level; propensity: the people most inclined "
        "to a behaviour (e.g. the most outspoken critics).")
    trait: Name | None = Field(None, description="trait: the trait targets are chosen by.")
    level: Name | None = Field(None, description="trait: the level of it that is targeted.")
    behaviour: Name | None = Field(None, description="propensity: the behaviour ranked by.")
    count: Annotated[int, Field(ge=0, le=10**8)] = Field(
        100, description="At most this many targets (trait: the first by id; propensity: the top).")
    start_day: Annotated[int, Field(ge=0, le=36_500)] = Field(
        0, description="First day targets are acted on.")
    downgrade_points: Annotated[int, Field(ge=-10**6, le=0)] = Field(
        0, description="Points taken from each target by hand on start_day.")
    fabricated_behaviour: Name | None = Field(
        None, description="Behaviour of the records fabricated against targets.")
    fabricate_every_days: Annotated[int, Field(ge=1, le=36_500)] = Field(
        365, description="Days between two records fabricated against one target.")
    spread_days: Annotated[int, Field(ge=1, le=36_500)] = Field(
        1, description="Targets are first acted on over this many days from start_day (one "
        "in spread_days each day), to see whether a slower campaign escapes an auditor.")
    source: str = ""

    @model_validator(mode="after")
    def _target_complete(self) -> Abuse:
        if self.target == "trait" and (self.trait is None or self.level is None):
            raise ValueError("target: trait needs trait and level")
        if self.target == "propensity" and self.behaviour is None:
            raise ValueError("target: propensity needs behaviour")
        return self


# --- society: households, ties, regions and their pilots, firms, joint punishment -------------
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

    degree_min: int = Field(10, ge=0, le=1000, description="Fewest ties a person has.")
    degree_max: int = Field(20, ge=0, le=1000, description="Most ties a person draws twice "
                            "over (each draws about half their degree).")
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

    travel_ban_grades: list[Name] = Field(
        default_factory=list, description="This scheme's grades that are travel-banned.")


class Region(Model):
    """A region of the country: its share of the people and its pilot scheme, if any."""

    share: Probability = Field(description="Share of people living there (regions sum to 1).")
    scheme: Name | None = Field(
        None, description="The region's pilot scheme (a key of `schemes`); null: no score, "
        "only the national dishonest list.")
    source: str = ""


class FirmBehaviour(Model):
    """Something firms do that their credit file records (tax arrears, court defaults ...)."""

    rate: Rate = Field(description="Probability per firm and day.")
    detection: Probability = Field(
        1.0, description="Probability an inspection or court records it.")
    points: int = Field(0, ge=-10**6, le=10**6, description="Credit points of a record.")
    lists: bool = Field(False, description="A record puts the firm on the corporate blacklist.")
    foreign_only: bool = Field(False, description="Only foreign firms face it (political demands).")
    source: str = ""


class Firms(Model):
    """Firms: few beside people, so an event-driven module over firms is enough."""

    per_person: Annotated[float, Field(gt=0.0, le=1.0)] = Field(
        0.03, description="Firms per person.")
    sector_shares: dict[Name, Probability] = Field(
        default_factory=lambda: {"manufacturing": 0.3, "services": 0.5, "transport": 0.05,
                                 "construction": 0.15},
        description="sector -> share of firms (sums to 1).")
    foreign_share: Probability = Field(0.01, description="Share of firms that are foreign.")
    employed_share: Probability = Field(0.6, description="Share of people with an employer.")
    initial: int = Field(100, ge=-10**8, le=10**8, description="Every firm's credit score on "
                         "day 0.")
    grades: list[Grade] = Field(min_length=1, max_length=8, description="Firm grades, from the "
                                "highest min_score down.")
    behaviours: dict[Name, FirmBehaviour] = Field(min_length=1, max_length=32, description=(
        "What firms do that their credit file records."))
    blacklist_days: Days = Field(1095, description="Days a listed firm stays on the corporate "
                                 "blacklist.")
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


# --- approval of the system (scoresim.model.opinion) --------------------------------------
OPINION_SOURCE = ("Kostka, China's social credit systems and public opinion, New Media & Society "
                  "21(7), 2019: ~80% approve; higher among wealthier, better educated, urban, "
                  "older respondents")


class Opinion(Model):
    """Each person's approval of the system in [0, 1], moved by what happens to them.

    Every person starts at `base` plus the shifts of their trait levels; each
    day approval relaxes towards that start at `recovery`, rises by `reward`
    per positive record filed on them, falls by `sanction` per negative record
    and by `wrongful` more per negative record that is wrong. No draws: the
    module consumes no random stream, so switching it on moves no other number.
    """

    base: Probability = Field(0.8, description="Mean starting approval (Kostka 2019: ~80%).")
    by_trait: dict[Name, dict[Name, Annotated[float, Field(ge=-1.0, le=1.0)]]] = Field(
        default_factory=dict, description="Shifts of the starting approval per trait level, "
        "e.g. {education: {university: 0.05}} (Kostka 2019's directions of difference).")
    reward: Annotated[float, Field(ge=0.0, le=1.0)] = Field(
        0.002, description="Rise per positive record filed on the person (assumption).")
    sanction: Annotated[float, Field(ge=0.0, le=1.0)] = Field(
        0.01, description="Fall per negative record filed on the person (assumption).")
    wrongful: Annotated[float, Field(ge=0.0, le=1.0)] = Field(
        0.12, description="Further fall per wrong negative record (Xu, Kostka & Cao 2022: "
        "learning of repression cut support by ~12%; applied to suffering it: assumption).")
    recovery: Annotated[float, Field(ge=0.0, le=1.0)] = Field(
        0.002, description="Daily share of the gap to the starting approval closed (assumption).")
    breakdown: list[Name] = Field(
        default_factory=list, description="Traits whose levels get approval_<trait>_<level> "
        "timeseries columns.")
    source: str = OPINION_SOURCE


class Surveys(Model):
    """Surveys of approval on given days: a direct question and a list experiment.

    A random sample (keyed draw) is asked. Directly, a respondent who does not
    approve says they do with probability `falsify` (fear of consequences). In
    the list experiment half the sample counts the items of a control list of
    `control` probabilities, the other half the same list plus "I approve".
    """

    days: list[Annotated[int, Field(ge=0)]] = Field(
        default_factory=lambda: [0], description="The days a survey is fielded on (days past "
        "the run's last day are not fielded).")
    every: Days | None = Field(
        None, description="Also field one every this many days, at the end of each period "
        "(days every - 1, 2 every - 1, ...): 182 gives two a year whatever the run's length.")
    sample: Annotated[int, Field(ge=2, le=10_000_000)] = Field(
        1000, description="People asked on each survey day (a keyed random sample).")
    falsify: Probability = Field(
        0.0, description="Chance a non-approver answers the direct question 'approve' "
        "(Carter, Carter & Schick 2024: >90% direct against 50-70% in list experiments); "
        "the stated rule, used when fear is stated.")
    fear: Literal["auto", "stated", "dissent"] = Field(
        "auto", description="Who falsifies the direct answer. stated: a non-approver, with "
        "probability `falsify`; dissent: a non-approver, with the share of their desired "
        "dissent that their best response under the dissent model holds back (1 - dissent / "
        "desired_dissent: a disapproving answer is speech, thinned as critical posts are); "
        "auto: dissent where the scenario has a dissent section, otherwise stated.")
    control: list[Probability] = Field(default_factory=lambda: [0.5, 0.5, 0.5],
                                       description="The control items' probabilities.")
    source: str = ("Carter, Carter & Schick 2024 (direct vs list experiments); "
                   "falsification rule an assumption")


# --- dissent and self-censorship (scoresim.model.dissent) ---------------------------------
DISSENT_SOURCE = ("Daymude, Axelrod & Forrest, Strategic analysis of dissent and self-censorship, "
                  "arXiv:2509.03731; code and data Zenodo 10.5281/zenodo.15150163")


class DesiredDissent(Model):
    """How much dissent each person wants to express, in [0, 1] (the paper's delta_i)."""

    distribution: Literal["truncated_exponential"] = Field(
        "truncated_exponential", description="The paper's: an exponential truncated to [0, 1] "
        "whose mean after truncation is `mean`.")
    mean: Annotated[float, Field(gt=0.0, lt=1.0)] = Field(
        0.25, description="Mean desired dissent (the paper's single-run default, 0.25).")
    by_trait: dict[Name, dict[Name, Annotated[float, Field(gt=0.0, lt=1.0)]]] = Field(
        default_factory=dict, description="Per-trait means replacing `mean` for people of a "
        "level, e.g. {occupation: {journalist: 0.45}} (the trait: population.attributes).")
    source: str = DISSENT_SOURCE


class Boldness(Model):
    """How much a person values saying what they want against the punishment risked (beta_i)."""

    distribution: Literal["exponential"] = Field(
        "exponential", description="The paper's: exponential with mean `mean`.")
    mean: Annotated[float, Field(gt=0.0, le=1000.0)] = Field(
        1.0, description="Mean boldness (the paper sweeps 0.1-10; its Fig. 4 uses 1, 2, 3, 8).")
    by_trait: dict[Name, dict[Name, Annotated[float, Field(gt=0.0, le=1000.0)]]] = Field(
        default_factory=dict, description="Per-trait means replacing `mean` for people of a "
        "level (the trait: population.attributes).")
    source: str = DISSENT_SOURCE


class DissentAdapt(Model):
    """The adaptive authority: the paper's random-mutation hill climbing on its own cost."""

    step: Annotated[float, Field(gt=0.0, le=1.0)] = Field(
        0.05, description="Half-width of a move: one parameter, chosen at random, is redrawn "
        "uniformly within this of its value (the paper's epsilon, 0.05).")
    adamancy: Annotated[float, Field(gt=0.0, le=1e6)] = Field(
        1.0, description="Weight of expressed dissent against the cost of punishing in the "
        "authority's cost (the paper's alpha, 1).")
    start: Literal["given", "random"] = Field(
        "given", description="given: start from dissent.tolerance, severity and surveillance "
        "(the paper's single runs: 0.25, 0.1, 0.1); random: each drawn from U(0, 1), as in "
        "the paper's sweeps.")
    source: str = DISSENT_SOURCE


class Dissent(Model):
    """Critical speech as a strategic choice under punishment (Daymude, Axelrod & Forrest).

    Each person expresses the dissent that maximises boldness x (1 - (desired -
    expressed)) minus the expected punishment: observed with probability
    surveillance + (1 - surveillance) x expressed, and punished above tolerance.
    """

    tolerance: Probability = Field(
        0.25, description="Expressed dissent at or below this is never punished (tau).")
    severity: Annotated[float, Field(ge=0.0, le=1e6)] = Field(
        0.1, description="Punishment of an observed excess: severity (uniform) or severity x "
        "excess (proportional) (psi).")
    surveillance: Probability = Field(
        0.1, description="Chance of observing even silence; expression a is observed with "
        "probability surveillance + (1 - surveillance) a (nu).")
    punishment: Literal["uniform", "proportional"] = Field(
        "uniform", description="uniform: a fixed punishment for any dissent above the "
        "tolerance; proportional: punishment in proportion to the excess.")
    desired: DesiredDissent = Field(default_factory=DesiredDissent)
    boldness: Boldness = Field(default_factory=Boldness)
    adapt: DissentAdapt | None = Field(
        None, description="null: a fixed authority; otherwise how it adapts, round by round.")
    round_days: Days = Field(1, description="Days per round of the choice (a round is a day).")
    behaviours: list[Name] | None = Field(
        None, description="The behaviours whose due events the choice thins to what is "
        "expressed: each is kept with probability dissent / desired_dissent (null: every "
        "speech: true behaviour).")
    response: Literal["best", "chilling"] = Field(
        "best", description="What drives the speech behaviours: best, each person's best "
        "response under this section's model (the paper's mechanism); chilling, "
        "responses.chilling's older threshold rule (aware people only), with this section's "
        "choice still computed and reported but thinning nothing.")
    from_scenario: bool = Field(
        False, description="Derive severity and surveillance from the scenario instead of the "
        "numbers given: severity from the rulebook's points for a record of the one driven "
        "behaviour and the sanctions it brings on (its triggers, and the travel ban of the grade "
        "its points lead to from the initial score), per scheme where the scenario has regions; "
        "surveillance from what its channel records.")
    points_per_severity: Annotated[float, Field(gt=0.0, le=1e9)] = Field(
        100.0, description="With from_scenario: points of penalty worth one unit of severity "
        "(one unit of boldness).")
    sanction_points: Annotated[float, Field(ge=0.0, le=1e9)] = Field(
        100.0, description="With from_scenario: what each sanction a record brings on (a "
        "listing, a media suspension, a travel or consumption ban) is felt to cost, in points "
        "(an assumption, not a rule).")
    source: str = DISSENT_SOURCE


class Scenario(Model):
    """A whole experiment: the society, what people do, how they are seen and judged."""

    name: Name = Field(description="The scenario's name (in run folders and the registry).")
    description: str = Field("", description="One line saying what the scenario is.")
    seed: int = Field(1, ge=0, le=2**63 - 1, description="Seed of every random stream: the "
                      "same seed, scenario and version give identical files.")
    agents: int = Field(100_000, ge=1, le=10**10, description="Number of synthetic people.")
    days: Days = Field(365, description="Days simulated (day 0 to days - 1).")
    population: Population = Field(default_factory=Population)
    behaviours: dict[Name, Behaviour] = Field(min_length=1, max_length=64)
    channels: dict[Name, Channel] = Field(default_factory=dict)
    face_recognition: dict[Name, FaceRecognition] = Field(default_factory=dict)
    scoring: Scoring | None = None
    sanctions: Sanctions = Field(default_factory=Sanctions)
    rewards: list[Reward] = Field(default_factory=list)
    responses: Responses | None = None
    credit_repair: CreditRepair | None = None
    appeals: Appeals | None = None
    abuse: Abuse | None = None
    records: Literal["all", "sample", "none"] = Field(
        "all", description="Credit file kept in records.parquet (and sanctions.parquet): "
        "all of it at any size, the whole files of a sample of people, or none.")
    records_sample: Probability = Field(
        0.01, description="With records: sample, the share of people whose files are kept."
    )
    credit_file: CreditFileRules = Field(default_factory=CreditFileRules)
    metrics: MetricsOptions = Field(default_factory=MetricsOptions)
    households: Households | None = None
    network: Network | None = None
    regions: dict[Name, Region] | None = None
    schemes: dict[Name, Scheme] = Field(default_factory=dict, max_length=254)
    firms: Firms | None = None
    joint_punishment: JointPunishment | None = None
    peer_rating: PeerRating | None = None
    # absent stays absent in the resolved scenario, so existing runs' manifests do not change
    dissent: Dissent | None = Field(None, exclude_if=lambda v: v is None)
    opinion: Opinion | None = Field(None, exclude_if=lambda v: v is None)
    surveys: Surveys | None = Field(None, exclude_if=lambda v: v is None)
    # absent stays absent too (manifests of scenarios without a timeline do not change)
    origin: dt.date | None = Field(
        None, exclude_if=lambda v: v is None,
        description="The date of day 0 (YYYY-MM-DD): timeline dates and the date column "
        "of timeseries.parquet count from it.")
    timeline: list[Change] = Field(
        default_factory=list, max_length=1000, exclude_if=lambda v: not v,
        description="Changes of the scenario's values on given dates or days "
        "(docs/history.md).")

    @field_validator("origin", mode="before")
    @classmethod
    def _origin(cls, value: Any) -> Any:
        return as_date(value)

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
        _check_surveillance(self)
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
        self._responses_resolve()
        _check_dissent(self)
        _check_opinion(self)
        _check_society(self)
        _check_score_range(self)
        _check_timeline(self)
        return self

    @model_validator(mode="after")
    def _canonical_order(self) -> Scenario:
        """Every mapping in name order: a YAML mapping has no order, so a scenario written
        with its keys in another order is the same scenario, and runs the same."""
        _sort_mappings(self)
        return self

    def _responses_resolve(self) -> None:
        r = self.responses
        for name, b in self.behaviours.items():
            if b.motive == "points" and (r is None or r.gamified_virtue is None):
                raise ValueError(f"behaviours.{name}.motive: 'points' needs "
                                 "responses.gamified_virtue (without it nobody acts for points)")
        if r is not None and r.avoidance is not None:
            for c in r.avoidance.region_channels:
                if c not in self.channels:
                    raise _ref_error("responses.avoidance.region_channels", c, "channel",
                                     self.channels)
        a = self.abuse
        if a is None:
            return
        for where, b in (("abuse.behaviour", a.behaviour),
                         ("abuse.fabricated_behaviour", a.fabricated_behaviour)):
            if b is not None and b not in self.behaviours:
                raise _ref_error(where, b, "behaviour", self.behaviours)
        if a.target == "trait":
            attrs = self.population.attributes
            if a.trait not in attrs:
                raise _ref_error("abuse.trait", a.trait, "trait", attrs)
            if a.level not in attrs[a.trait].levels:
                raise _ref_error("abuse.level", a.level, "level", attrs[a.trait].levels)


def dissent_behaviours(scenario: Scenario) -> list[str]:
    """The behaviours the dissent choice drives: dissent.behaviours, or every speech one."""
    d = scenario.dissent
    if d is None:
        return []
    if d.behaviours is not None:
        return list(d.behaviours)
    return [name for name, b in scenario.behaviours.items() if b.speech]


def dissent_drives(scenario: Scenario) -> list[str]:
    """The behaviours the paper's choice thins: dissent_behaviours, unless response: chilling."""
    d = scenario.dissent
    if d is None or d.response != "best":
        return []
    return dissent_behaviours(scenario)


def _check_dissent(sc: Scenario) -> None:
    """dissent: its behaviours, traits and levels exist; one mechanism per speech act."""
    d = sc.dissent
    if d is None:
        return
    for b in d.behaviours or []:
        if b not in sc.behaviours:
            raise _ref_error("dissent.behaviours", b, "behaviour", sc.behaviours)
    attrs = sc.population.attributes
    for part in ("desired", "boldness"):
        for trait, means in getattr(d, part).by_trait.items():
            if trait not in attrs:
                raise _ref_error(f"dissent.{part}.by_trait", trait, "trait", attrs)
            for level in means:
                if level not in attrs[trait].levels:
                    raise _ref_error(f"dissent.{part}.by_trait.{trait}", level, "level",
                                     attrs[trait].levels)
    driven = dissent_behaviours(sc)
    if d.from_scenario and len(driven) != 1:
        raise ValueError("dissent.from_scenario: derives one policy from one behaviour's "
                         f"rules and channel; dissent drives {len(driven)} ({', '.join(driven)})"
                         "; name one in dissent.behaviours")
    r = sc.responses
    if d.response == "chilling" and (r is None or r.chilling is None):
        raise ValueError("dissent.response: chilling needs a responses.chilling section (with "
                         "responses.awareness); set dissent.response to best, or add one")
    if d.from_scenario and d.adapt is not None and sc.regions is not None:
        raise ValueError("dissent.adapt: an authority that adapts moves one policy, but with "
                         "dissent.from_scenario and regions each scheme's rules weigh their own "
                         "severity; set dissent.adapt to null or from_scenario to false")


def _sort_mappings(model: BaseModel) -> None:
    """Sort, in place, every dict field of `model` and of the models inside it, by key."""
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, dict):
            value = dict(sorted(value.items()))
            object.__setattr__(model, name, value)
            children = list(value.values())
        elif isinstance(value, list):
            children = value
        else:
            children = [value]
        for child in children:
            if isinstance(child, BaseModel):
                _sort_mappings(child)


def _ref_error(where: str, value: str, kind: str, known) -> ValueError:
    known_list = ", ".join(sorted(known)) or "none defined"
    return ValueError(f"{where}: unknown {kind} '{value}' (known: {known_list})")


def _trait_levels(scenario: Scenario) -> dict[str, int]:
    levels = {n: len(a.levels) for n, a in scenario.population.attributes.items()}
    levels["group"] = len(scenario.population.group_shares)
    return levels


def _check_surveillance(scenario: Scenario) -> None:
    """Cross-references of the observation channels, face recognition and credit file."""
    levels = _trait_levels(scenario)
    behaviours = scenario.behaviours

    def trait(where: str, name: str, n_values: int | None) -> None:
        if name not in levels:
            raise _ref_error(where, name, "trait", levels)
        if n_values is not None and n_values != levels[name]:
            raise ValueError(f"{where}: expected one value per level of '{name}' "
                             f"({levels[name]}), got {n_values}")

    coverage_traits = set()
    for name, c in scenario.channels.items():
        if c.coverage_by is not None:
            trait(f"channels.{name}.coverage", c.coverage_by, len(c.coverage))
            coverage_traits.add(c.coverage_by)
        for field in ("false_flag", "malicious_report"):
            rule = getattr(c, field)
            if rule is None:
                continue
            where = f"channels.{name}.{field}"
            for b in (rule.behaviour, rule.recorded_as):
                if b not in behaviours:
                    raise _ref_error(where, b, "behaviour", behaviours)
            if behaviours[rule.behaviour].channel != name:
                raise ValueError(f"{where}.behaviour: '{rule.behaviour}' must have channel "
                                 f"'{name}' for this channel to see it")
            if rule.behaviour == rule.recorded_as:
                raise ValueError(f"{where}: behaviour and recorded_as must differ")
        if c.false_flag and c.malicious_report \
                and c.false_flag.behaviour == c.malicious_report.behaviour:
            raise ValueError(f"channels.{name}: one behaviour cannot be both a false flag "
                             "source and a malicious report")
    if len(coverage_traits) > 1:
        raise ValueError("channels: all cameras must share one coverage_by trait "
                         f"(got {', '.join(sorted(coverage_traits))})")
    cells = levels["group"]
    used: set[str] = set()
    for name, fr in scenario.face_recognition.items():
        for field in ("fmr_multipliers", "miss_multipliers"):
            for t, values in getattr(fr, field).items():
                trait(f"face_recognition.{name}.{field}", t, len(values))
                if t != "group":
                    used.add(t)
        # conservative: the best-matched cell's tmr with the worst cell's fmr
        worst = (1.0 - (1.0 - fr.tmr) * _worst(fr.miss_multipliers, min)
                 + max(fr.fmr, default=0.0) * _worst(fr.fmr_multipliers, max))
        if worst > 1.0 + 1e-12:
            raise ValueError(f"face_recognition.{name}: tmr + fmr with its multipliers "
                             f"reaches {worst:g}, over 1")
        miss = (1.0 - fr.tmr) * _worst(fr.miss_multipliers, max)
        if miss > 1.0 + 1e-12:
            raise ValueError(f"face_recognition.{name}: the miss rate with its multipliers "
                             f"reaches {miss:g}, over 1")
    for t in used:
        cells *= levels[t]
    if cells > 256:
        raise ValueError(f"face_recognition: group x multiplier traits make {cells} cells "
                         "(at most 256)")
    for b, _cat in scenario.credit_file.category_of.items():
        if b not in behaviours:
            raise _ref_error(f"credit_file.category_of.{b}", b, "behaviour", behaviours)
    for t in scenario.metrics.breakdown:
        trait("metrics.breakdown", t, None)
    if len(set(scenario.metrics.breakdown)) != len(scenario.metrics.breakdown):
        raise ValueError("metrics.breakdown: traits must be unique")
    # Wrongful bans count the dishonest list as right (court records are correct,
    # docs/reference-model.md): its triggers must not be recorded through error-prone channels.
    dl = scenario.sanctions.dishonest_list
    for b in dl.triggers if dl else []:
        if b not in behaviours:
            continue  # refused below, with the field named
        ch = scenario.channels.get(behaviours[b].channel or "")
        if ch is not None and ch.linkage_error > 0:
            raise ValueError(f"channels.{behaviours[b].channel}.linkage_error: '{b}' puts people "
                             "on the dishonest list, whose records are taken as correct")
        for name, c in scenario.channels.items():
            for rule in (c.false_flag, c.malicious_report):
                if rule is not None and rule.recorded_as == b:
                    raise ValueError(f"channels.{name}: records '{b}' falsely, but it puts "
                                     "people on the dishonest list, taken as correct")


def _worst(multipliers: dict[str, list[float]], pick) -> float:
    """The largest product of one factor per trait (traits are independent)."""
    out = 1.0
    for values in multipliers.values():
        out *= pick(values)
    return out


def _check_opinion(sc: Scenario) -> None:
    """opinion's traits and levels exist; surveys ask about the approval opinion holds."""
    attrs = _trait_levels_by_name(sc)
    o = sc.opinion
    if o is not None:
        for trait, shifts in o.by_trait.items():
            if trait not in attrs:
                raise _ref_error("opinion.by_trait", trait, "trait", attrs)
            for level in shifts:
                if level not in attrs[trait]:
                    raise _ref_error(f"opinion.by_trait.{trait}", level, "level", attrs[trait])
        for trait in o.breakdown:
            if trait not in attrs:
                raise _ref_error("opinion.breakdown", trait, "trait", attrs)
    sv = sc.surveys
    if sv is None:
        return
    if o is None:
        raise ValueError("surveys: a survey asks about the approval the opinion model holds, "
                         "and the scenario has no opinion section; add one (`opinion: {}` "
                         "takes its defaults) or remove surveys")
    if sv.fear == "dissent" and sc.dissent is None:
        raise ValueError("surveys.fear: dissent takes each respondent's fear from the dissent "
                         "model, and the scenario has no dissent section; set fear to stated "
                         "(with surveys.falsify) or add a dissent section")


def _trait_levels_by_name(sc: Scenario) -> dict[str, list[str]]:
    """Every trait the society draws (population.attributes and the group), with its levels."""
    levels = {name: list(a.levels) for name, a in sc.population.attributes.items()}
    levels["group"] = [str(g) for g in range(len(sc.population.group_shares))]
    return levels


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


def _check_timeline(sc: Scenario) -> None:
    """Every change starts within the run, sets paths that can change during one, to values
    of the right type; each change is resolved to both its day and (with an origin) its date."""
    if not sc.timeline:
        return
    base = sc.model_dump(mode="json", exclude={"timeline"})
    starts: dict[tuple[int, str], int] = {}
    named: dict[str, int] = {}
    for i, ch in enumerate(sc.timeline):
        where = f"timeline.{i}"
        if ch.name is not None:  # names address entries (--set timeline.<name>...)
            if ch.name in named:
                raise ValueError(f"{where}.name: {ch.name!r} is also the name of "
                                 f"timeline.{named[ch.name]} (names are unique)")
            named[ch.name] = i
        if ch.date is not None:
            if sc.origin is None:
                raise ValueError(f"{where}.date: a date needs the scenario's origin (the date "
                                 "of day 0); or give day")
            day = (ch.date - sc.origin).days
            if day < 0:
                raise ValueError(f"{where}.date: {ch.date} is before the origin {sc.origin}")
            if ch.day is not None and ch.day != day:
                raise ValueError(f"{where}: date {ch.date} is day {day}, not day {ch.day}")
        elif ch.day is not None:
            day = ch.day
        else:
            raise ValueError(f"{where}: needs a date or a day")
        if day >= sc.days:
            raise ValueError(f"{where}.{'date' if ch.date else 'day'}: day {day} is past the "
                             f"run (days 0 to {sc.days - 1})")
        object.__setattr__(ch, "day", day)
        if sc.origin is not None and ch.date is None:
            object.__setattr__(ch, "date", sc.origin + dt.timedelta(days=day))
        for path, value in ch.set.items():
            field = f"{where}.set.{path}"
            kind = kind_of(path)
            if kind is None:
                raise ValueError(f"{field}: cannot change during a run (paths that can: "
                                 f"{CHANGEABLE})")
            found, current = value_at(base, path)
            if kind == "switch" and not found:
                raise ValueError(f"{field}: the scenario has no such section (a timeline "
                                 "switches sections the scenario has from day 0)")
            if kind == "switch" and path.startswith("schemes."):
                scheme = path.split(".")[1]
                users = [r for r, reg in (base.get("regions") or {}).items()
                         if reg.get("scheme") == scheme]
                if not users or base.get("scoring") is None:
                    raise ValueError(f"{field}: no region runs scheme {scheme!r} (a scheme "
                                     "is switched where a region of `regions` has it)")
            if not found or current is None:
                raise ValueError(f"{field}: the scenario has no such value (a timeline "
                                 "changes values the scenario sets from day 0)")
            if ch.ramp_days is not None and (isinstance(value, bool)
                                             or not isinstance(value, int | float)):
                raise ValueError(f"{field}: ramp_days needs a number, got {value!r}")
            if (day, path) in starts:
                raise ValueError(f"{field}: timeline.{starts[day, path]} changes it on the "
                                 f"same day {day}")
            starts[day, path] = i
            if kind == "switch":
                if not isinstance(value, bool):
                    raise ValueError(f"{field}: a switch is true or false, got "
                                     f"{type(value).__name__} {value!r}")
                continue
            trial = _with_value(base, path, value)
            try:
                Scenario.model_validate(trial)
            except ValidationError as exc:
                err = exc.errors()[0]
                msg = err["msg"].removeprefix("Value error, ")
                if "input" in err and err["type"].endswith("_type"):
                    msg += f" (got {type(err['input']).__name__} {err['input']!r})"
                raise ValueError(f"{field}: {msg}") from None


def _with_value(data: dict, path: str, value: Any) -> dict:
    """A copy of `data` with `value` at the dotted `path` (which exists in it)."""
    out = copy.deepcopy(data)
    node: Any = out
    parts = path.split(".")
    for part in parts[:-1]:
        node = node[int(part)] if isinstance(node, list) else node[part]
    last = parts[-1]
    node[int(last) if isinstance(node, list) else last] = value
    return out


def _check_score_range(sc: Scenario) -> None:
    """Scores are 32-bit integers: refuse schemes that could carry one past its range.

    A person does each behaviour at most once a day, so a score moves by at most the
    sum of |points| a day; twice that leaves room for records filed under the wrong
    person (false matches, linkage, reports), which are rare.
    """
    schemes = [("scoring", sc.scoring)] if sc.scoring is not None else []
    schemes += [(f"schemes.{n}", s) for n, s in sc.schemes.items()]
    for where, scheme in schemes:
        reach = abs(scheme.initial) + 2 * sc.days * sum(abs(p) for p in scheme.points.values())
        if reach >= 2**31:
            raise ValueError(
                f"{where}.points: over {sc.days} days scores could reach {reach:,}, past the "
                f"range of a score (2,147,483,647); use fewer points or fewer days")
