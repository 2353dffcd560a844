"""The timeline as the modules read it: every changing value, day by day.

`Timeline(scenario)` resolves the scenario's `timeline:` (scenario/timeline.py)
into what the modules need:

- `value(path, day)` and `daily(path)`: a value on a day, and the whole run's
  values as an array, for values read when they are used (a listing's term, a
  channel's recording probability);
- `changes_on(day)`: the paths a change touches that day (Module.on_change);
- `layers(path)`: for a rate, the value after each change in turn, which is how
  a changed rate keeps the run event-driven and its random numbers common.

A rate is changed in layers, one per change, in the order the changes start.
Layer 0 is the rate the scenario starts with; layer k turns the process of the
layers before it (daily probability p_{k-1}(t) on day t) into one with
probability p_k(t) from its start day on: where p_k > p_{k-1} it adds events of
a clock of its own (daily probability (p_k - p_{k-1}) / (1 - p_{k-1}), so that
the union has p_k exactly), and where p_k < p_{k-1} it keeps each earlier event
with probability p_k / p_{k-1} by a uniform keyed by (the change, the
behaviour, the person, the day). Before its start day a layer draws nothing,
so a run with a change on day d is the same run as without it up to day d - 1;
after it, events differ only where the change makes them (a lower rate keeps a
subset of the events; a higher one adds events to them). A layer's own clock
runs at the largest extra probability its change ever asks for (a ramp's last
day) and keeps each of its events with the day's share of that; this is done
within one change only, never across changes, so no change moves the draws of
another that starts before it.
"""

from __future__ import annotations

import numpy as np

from scoresim.scenario.schema import Scenario
from scoresim.scenario.timeline import value_at


class Timeline:
    """The scenario's changes, resolved: which values change on which days, and to what."""

    def __init__(self, scenario: Scenario):
        self.days = days = scenario.days
        self.origin = scenario.origin
        base = scenario.model_dump(mode="json", exclude={"timeline"})
        # (start day, position in the list, change) in the order changes apply
        order = sorted(range(len(scenario.timeline)),
                       key=lambda i: (scenario.timeline[i].day, i))
        self.changes = [(scenario.timeline[i].day, i, scenario.timeline[i]) for i in order]
        self._on: dict[int, list[str]] = {}
        # per path: the base value and each change's (start, ramp, target, key)
        self._steps: dict[str, list[tuple[int, int, float, str]]] = {}
        self._base: dict[str, float] = {}
        for day, _, ch in self.changes:
            for path, value in ch.set.items():
                self._on.setdefault(day, []).append(path)
                self._base.setdefault(path, value_at(base, path)[1])
                self._steps.setdefault(path, []).append((day, ch.ramp_days or 1, value,
                                                         ch.key))
        self._layers: dict[str, list[np.ndarray]] = {}
        for path, steps in self._steps.items():
            values = [np.full(days, float(self._base[path]))]
            for start, ramp, target, _ in steps:
                prev = values[-1]
                v = prev.copy()
                a = prev[start - 1] if start > 0 else prev[0]
                j = np.arange(days - start, dtype=np.float64)
                v[start:] = np.where(j < ramp, a + (float(target) - a) * (j + 1) / ramp,
                                     float(target))
                if isinstance(self._base[path], int) and not isinstance(self._base[path], bool):
                    v = np.round(v)
                values.append(v)
            self._layers[path] = values

    def __bool__(self) -> bool:
        return bool(self.changes)

    @property
    def paths(self) -> list[str]:
        """Every path some change sets."""
        return list(self._steps)

    def changes_on(self, day: int) -> list[str]:
        """The paths a change starts to move on `day` (a ramp moves them on later days too)."""
        return self._on.get(day, [])

    def daily(self, path: str) -> np.ndarray | None:
        """The value of `path` on every day of the run (None: no change sets it)."""
        layers = self._layers.get(path)
        return layers[-1] if layers is not None else None

    def value(self, path: str, day: int, default: float | None = None) -> float | None:
        """The value of `path` on `day` (`default`: the scenario's, where no change sets it)."""
        v = self.daily(path)
        return default if v is None else float(v[day])

    def layers(self, path: str) -> list[tuple[str, int, np.ndarray]]:
        """For each change of `path` in turn: its key, its start day, and the daily values
        after it and the changes before it (layer 0, the scenario's value, not included)."""
        steps, values = self._steps.get(path, []), self._layers.get(path, [])
        return [(key, start, values[k + 1]) for k, (start, _, _, key) in enumerate(steps)]

    def base_layer(self, path: str) -> np.ndarray | None:
        values = self._layers.get(path)
        return values[0] if values is not None else None
