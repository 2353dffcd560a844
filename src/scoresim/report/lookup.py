"""The report's person lookup: the stories of a bounded number of people, embedded as JSON.

A reader who sees "312 people wrongly banned" should be able to open one of
them and read why, without a terminal. The page carries the stories `scoresim
explain` tells, for everyone with a wrong record first (the wrongly banned,
then by how many points the wrong records cost them) and a sample of the
others, until a byte budget is spent, so a report of a large run stays small
enough to mail. A small inline script tells the stories in the same words as
`scoresim.studies.explain.describe`.
"""

from __future__ import annotations

import json
from typing import Any

import duckdb
import numpy as np

from scoresim.report.page import esc
from scoresim.runs.results import Results
from scoresim.studies.explain import SANCTION_LABELS, records_kept, stories, truth_of

DEFAULT_BUDGET = 3_000_000  # bytes of story JSON; plotly.js itself is about 4.8 MB
SAMPLE = 200  # people without wrong records, half of them under a sanction at the end
BATCH = 400


class StoryTable:
    """Strings used by the stories, each stored once and referred to by index."""

    def __init__(self) -> None:
        self.strings: list[str] = []
        self.index: dict[str, int] = {}

    def __call__(self, s: str | None) -> int | None:
        if s is None:
            return None
        k = self.index.get(s)
        if k is None:
            k = self.index[s] = len(self.strings)
            self.strings.append(s)
        return k


def encode(story: list[dict[str, Any]], t: StoryTable) -> list[Any]:
    """One story as compact arrays: [group, start, rows, end]."""
    start, end = story[0], story[-1]
    rows: list[list[Any]] = []
    for e in story[1:-1]:
        if e["kind"] == "record":
            rows.append([e["day"], 0, t(e["behaviour"]), t(e["channel"]), e["points"],
                         int(e["correct"]), e["true_actor"], e["score"], t(e["grade"]),
                         int(bool(e.get("withdrawn"))), t(truth_of(e))])
        else:
            w = e.get("wrongful")
            rows.append([e["day"], 1, t(e["sanction"]), t(e["event"]),
                         None if w is None else int(w), t(e.get("why") or "")])
    return [start["group"], [start["score"], t(start["grade"])], rows, end]


def candidates(results: Results) -> tuple[list[int], list[int], int]:
    """Who the lookup should know: people with wrong records in priority order, then others.

    Returns (wrong, sample, n_wrong) where `wrong` lists everyone whose kept file
    holds a wrong record, the wrongly banned first, then by |false points|.
    """
    path = str(results.records_path).replace("'", "''")
    con = duckdb.connect()
    try:
        con.execute("SET threads TO 2")
        wrong_ids = con.execute(
            f"SELECT DISTINCT subject FROM read_parquet('{path}') WHERE NOT correct"
        ).fetchnumpy()["subject"]
        if records_kept(results) == "sample":
            kept = con.execute(
                f"SELECT DISTINCT subject FROM read_parquet('{path}')").fetchnumpy()["subject"]
        else:
            kept = None
    finally:
        con.close()
    p = results.people
    hurt = p[p["id"].isin(wrong_ids)]
    hurt = hurt.assign(_abs=hurt["false_points"].abs()).sort_values(
        ["wrongly_banned", "_abs", "id"], ascending=[False, False, True], kind="stable")
    wrong = hurt["id"].astype(int).tolist()
    others = p[~p["id"].isin(wrong_ids)]
    if kept is not None:
        others = others[others["id"].isin(kept)]
    sanctioned = np.zeros(len(others), dtype=bool)
    for col in ("travel_banned", "listed", "media_suspended", "consumption_banned"):
        if col in others:
            sanctioned |= others[col].to_numpy(dtype=bool)
    rng = np.random.default_rng(int(results.manifest["seed"]))
    half = SAMPLE // 2
    pool_s = others["id"].to_numpy()[sanctioned]
    pool_o = others["id"].to_numpy()[~sanctioned]
    pick_s = rng.choice(pool_s, size=min(half, pool_s.size), replace=False) if pool_s.size else []
    pick_o = rng.choice(pool_o, size=min(SAMPLE - len(pick_s), pool_o.size), replace=False) \
        if pool_o.size else []
    sample = sorted(int(i) for i in list(pick_s) + list(pick_o))
    return wrong, sample, len(wrong)


def embedded_stories(results: Results, budget: int = DEFAULT_BUDGET) -> dict[str, Any] | None:
    """The lookup's data: the stories of as many chosen people as fit in `budget` bytes."""
    if records_kept(results) == "none":
        return None
    wrong, sample, n_wrong = candidates(results)
    t = StoryTable()
    people: dict[str, Any] = {}
    used = 0
    n_wrong_kept = 0
    full = False
    for group_ids, is_wrong in ((wrong, True), (sample, False)):
        for k in range(0, len(group_ids), BATCH):
            batch = group_ids[k:k + BATCH]
            told = stories(results, batch)
            for pid in batch:
                if pid not in told:
                    continue
                enc = encode(told[pid], t)
                size = len(json.dumps(enc, separators=(",", ":"))) + 12
                if used + size > budget:
                    full = True
                    break
                people[str(pid)] = enc
                used += size
                n_wrong_kept += is_wrong
            if full:
                break
        if full:
            break
    return {
        "strings": t.strings,
        "labels": SANCTION_LABELS,
        "people": people,
        "wrong": wrong[:n_wrong_kept],
        "n_wrong": n_wrong,
        "n_wrong_kept": n_wrong_kept,
        "n_sample": len(people) - n_wrong_kept,
        "agents": int(results.manifest["agents"]),
        "records": records_kept(results),
    }


def lookup_html(data: dict[str, Any] | None, run_name: str) -> str:
    """The lookup's form and result area (the data and script travel separately)."""
    if data is None:
        return ("<p>This run kept no credit file (records: none), so no one's story can be "
                "told here. Run it again with <code>--records all</code> or "
                "<code>--records sample</code>.</p>")
    n = len(data["people"])
    kept = (f"all {data['n_wrong']:,} people with a wrong record in their file"
            if data["n_wrong_kept"] == data["n_wrong"] else
            f"the {data['n_wrong_kept']:,} of {data['n_wrong']:,} people with wrong records "
            "hurt most by them")
    suggestions = "".join(
        f'<button type="button" data-person="{i}">{i}</button>' for i in data["wrong"][:24])
    more = ("" if not suggestions else
            f'<div class="suggest"><p id="suggest-h">People with wrong records (most hurt '
            f'first):</p><div role="group" aria-labelledby="suggest-h">{suggestions}</div>'
            "</div>")
    return f"""
<div class="lookup">
<p>This page holds the stories of {n:,} people: {esc(kept)}, and a sample of
{data['n_sample']:,} others. For anyone else, run
<code>scoresim explain {esc(run_name)} --person ID</code>.</p>
<form id="lookup-form" role="search" aria-label="Look up a person" novalidate>
<div><label for="person-id">Person id</label>
<input id="person-id" name="person" type="number" min="0" max="{data['agents'] - 1}"
 inputmode="numeric" list="person-ids" autocomplete="off"></div>
<button type="submit">Show the story</button>
</form>
<datalist id="person-ids">{"".join(f'<option value="{i}">' for i in data["wrong"][:500])}
</datalist>
{more}
<div id="story" aria-live="polite"></div>
</div>
"""


LOOKUP_SCRIPT = r"""
(function () {
  var el = document.getElementById('scoresim-stories');
  if (!el) { return; }
  var D = JSON.parse(el.textContent), S = D.strings;
  function s(i) { return i === null || i === undefined ? null : S[i]; }
  function txt(t) { return document.createTextNode(t); }
  function cell(tag, text, cls) {
    var c = document.createElement(tag); c.appendChild(txt(text)); if (cls) c.className = cls;
    return c;
  }
  function describe(r) {
    if (r[1] === 0) {
      var truth = s(r[10]);  // explain.truth_of: what a wrong record is, by its error
      return s(r[2]) + ' (' + s(r[3]) + ', ' + truth + ')' + (r[9] ? ' no longer counts' : '');
    }
    var sanction = s(r[2]), ev = s(r[3]), why = s(r[5]), text;
    var note = ' [would not have happened without the wrong records]';
    if (ev === 'shown') {
      return 'shown on public screens: ' + why + (r[4] ? note : '');
    }
    var label = D.labels[sanction] || sanction.replace(/_/g, ' ');
    text = label + ' ' + ev;
    if (why) { text += ': ' + why; }
    if ((ev === 'began' || ev === 'shown') && r[4]) { text += note; }
    return text;
  }
  function signed(n) { return (n > 0 ? '+' : n < 0 ? '\u2212' : '\u00b1') + Math.abs(n); }
  function show(id) {
    var out = document.getElementById('story');
    out.textContent = '';
    var p = D.people[String(id)];
    if (p === undefined) {
      var why = isNaN(id)
        ? 'Type a person id: a whole number from 0 to ' + (D.agents - 1) + '.'
        : (id < 0 || id >= D.agents)
        ? 'There is no person ' + id + ' in this run (ids run from 0 to ' + (D.agents - 1) + ').'
        : 'This page does not hold the story of person ' + id +
          '. Use scoresim explain with --person ' + id + ' to read it.';
      out.appendChild(cell('p', why, 'summary'));
      return;
    }
    var end = p[3], scored = end.score !== null;
    var head = 'Person ' + id + ' (group ' + p[0] + ')';
    if (scored) { head += ': score ' + end.score + ', grade ' + end.grade; }
    out.appendChild(cell('h3', head));
    var sum = end.records + ' records kept, ' + end.wrong_records + ' of them wrong.';
    if (scored && end.wrong_records) {
      sum += ' Without the wrong records: score ' + end.true_score + ', grade ' +
        end.true_grade + ' (' + signed(end.false_points) + ' points from wrong records).';
    }
    out.appendChild(cell('p', sum, 'summary'));
    var tbl = document.createElement('table');
    var cap = document.createElement('caption');
    cap.appendChild(txt('The credit file of person ' + id + ', in order. ' +
      '"!" marks a wrong record, or what would not have happened without one.'));
    tbl.appendChild(cap);
    var thead = document.createElement('thead'), hr = document.createElement('tr');
    ['Day', 'Points', 'Score', 'Grade', 'What'].forEach(function (h) {
      var th = cell('th', h); th.scope = 'col'; hr.appendChild(th);
    });
    thead.appendChild(hr); tbl.appendChild(thead);
    var tb = document.createElement('tbody');
    function row(day, pts, score, grade, what, wrong, kind) {
      var tr = document.createElement('tr');
      tr.className = kind;
      var d = cell('td', String(day));
      if (wrong) {
        tr.className += ' wrong';
        var f = cell('span', ' !', 'flag'); f.setAttribute('aria-label', 'wrong');
        d.appendChild(f);
      }
      tr.appendChild(d); tr.appendChild(cell('td', pts, 'num'));
      tr.appendChild(cell('td', score, 'num')); tr.appendChild(cell('td', grade));
      tr.appendChild(cell('td', what, 'what'));
      tb.appendChild(tr);
    }
    row(0, '', p[1][0] === null ? '' : String(p[1][0]), s(p[1][1]) || '', 'credit file opens',
        false, 'start');
    p[2].forEach(function (r) {
      if (r[1] === 0) {
        row(r[0], signed(r[4]), r[7] === null ? '' : String(r[7]), s(r[8]) || '',
            describe(r), !r[5], 'record');
      } else {
        row(r[0], '', '', '', describe(r), r[4] === 1, 'sanction');
      }
    });
    tbl.appendChild(tb); out.appendChild(tbl);
    var lines = [];
    var inForce = end.in_force.map(function (k) { return D.labels[k] || k; }).join(', ');
    lines.push('Day ' + end.day + ': end of the run; in force: ' + (inForce || 'none') + '.');
    var wd = Object.keys(end.wrongful_days).sort().map(function (k) {
      return (D.labels[k] || k) + ' ' + end.wrongful_days[k] + ' days';
    });
    if (wd.length) {
      lines.push('Days under sanction only because of the wrong records: ' + wd.join(', ') + '.');
    }
    if (end.wrongly_banned) {
      lines.push('Wrongly travel-banned at the end: the true records alone would not ban.');
    }
    lines.forEach(function (l) { out.appendChild(cell('p', l, 'summary')); });
  }
  var form = document.getElementById('lookup-form'), input = document.getElementById('person-id');
  form.addEventListener('submit', function (ev) {
    ev.preventDefault();
    show(parseInt(input.value, 10));
  });
  Array.prototype.forEach.call(document.querySelectorAll('[data-person]'), function (b) {
    b.addEventListener('click', function () {
      input.value = b.getAttribute('data-person');
      show(parseInt(input.value, 10));
    });
  });
  window.scoresimShowPerson = show;
})();
"""
