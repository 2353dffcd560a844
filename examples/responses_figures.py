"""The figures of docs/responses.md, computed: python examples/responses_figures.py.

pilot-city against no-system (seed 1, 100,000 people, one year), then the
authority targeting the 100 most outspoken critics at three speeds, each
audited from the published aggregates alone. Prints Markdown tables; about
two minutes on two cores.
"""

from __future__ import annotations

import scoresim
from scoresim.model.abuse import audit

AGENTS, DAYS, SEED = 100_000, 365, 1
START = 180


def main() -> None:
    print(f"scoresim {scoresim.__version__}; seed {SEED}, {AGENTS:,} people, {DAYS} days\n")
    city = scoresim.run("pilot-city", agents=AGENTS, days=DAYS, seed=SEED, records="none")
    plain = scoresim.run("no-system", agents=AGENTS, days=DAYS, seed=SEED, records="none")
    c = scoresim.compare(city, plain)
    print("| measure | pilot-city | no-system | ratio |\n| --- | --- | --- | --- |")
    for measure, label in (("criticizing_government",
                            "criticizing_government (true critical posts)"),
                           ("late_payment", "late_payment"), ("drunk_driving", "drunk_driving"),
                           ("jaywalking", "jaywalking"), ("total_offences", "all offences"),
                           ("total_volunteering", "volunteering, genuine + for points")):
        r = c.loc[measure]
        print(f"| {label} | {r.events_a:,} | {r.events_b:,} | {r.ratio:.3f} |")
    ts = city.timeseries
    last = ts.iloc[-1]
    cleared = int(ts["n_wrong_records_cleared"].sum())
    days = int(ts["wrong_record_days_to_clear"].sum())
    print(f"\nAware: {int(ts['n_aware'].iloc[0]):,} on day 0, {int(last['n_aware']):,} on day "
          f"{int(last['day'])}; {int(last['n_left_region']):,} left the region. Delisted: "
          f"{int(ts['n_delisted'].sum()):,}. Appeals filed {int(ts['n_appeals_filed'].sum()):,}, "
          f"won {int(ts['n_appeals_won'].sum()):,}; {cleared:,} wrong records cleared (appeal "
          f"or expiry), {days / max(cleared, 1):.0f} days on average. Repair: "
          f"{int(ts['n_repair_applications'].sum()):,} applications, "
          f"{int(ts['n_repairs'].sum()):,} repairs ({int(ts['n_paid_repairs'].sum()):,} paid), "
          f"{int(ts['n_records_expired'].sum()):,} records expired, "
          f"{ts['repair_cost'].sum() / 1e6:.1f} million yuan spent (assumed prices).")
    alarms = audit(ts)
    alarms = alarms[alarms.flagged]
    print("\nWithout abuse, the auditor flags: " + (", ".join(
        f"{r.column} z={r.max_z:.1f} (day {r.day})" for r in alarms.itertuples()) or "nothing"))

    print("\n| spread_days | targets banned at the end | listed | mean score | critical posts a "
          "day, before / after | auditor flags (z > 5) |\n| --- | --- | --- | --- | --- | --- |")
    for spread in (1, 30, 180):
        abuse = {"target": "propensity", "behaviour": "criticizing_government", "count": 100,
                 "start_day": START, "downgrade_points": -200,
                 "fabricated_behaviour": "court_judgment_default", "fabricate_every_days": 365,
                 "spread_days": spread}
        res = scoresim.run("pilot-city", agents=AGENTS, days=DAYS, seed=SEED, records="none",
                           set={"abuse": abuse})
        t = res.timeseries
        end = t.iloc[-1]
        before = t.loc[t.day < START, "n_targeted_speech_events"].mean()
        after = t.loc[t.day >= START + spread, "n_targeted_speech_events"].mean()
        flags = audit(t)
        flags = flags[flags.flagged]
        print(f"| {spread} | {int(end.n_targeted_banned)} / {int(end.n_targeted)} | "
              f"{int(end.n_targeted_listed)} | {end.targeted_mean_score:.0f} | "
              f"{before:.2f} / {after:.2f} | "
              + (", ".join(f"{r.column} z={r.max_z:.1f} day {r.day}" for r in flags.itertuples())
                 or "none") + " |")


if __name__ == "__main__":
    main()
