"""The admin dashboard, drawn by a real browser: headless Chromium from Debian's package.

Datasette runs as deploy/datasette/README.md says (tests/test_datasette.py's `serving`),
on a real query log with several languages, weeks, outcomes and ratings, and with groups
on both sides of k = 3. Chromium (through Debian's chromedriver, which is built from the
same source as the browser, so the two always match) signs in, loads
/-/dashboards/query-log with every name but 127.0.0.1 unresolvable, and the test checks
each chart's SVG marks against counts made here in Python from the same rows, and that
nothing below k, and no pseudonym, reached the page.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import urllib.parse
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

pytest.importorskip("datasette")
pytest.importorskip("datasette_dashboards")

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.wait import WebDriverWait

from conftest import SECRET, make_event
from rightsdesk.anonymise import iso_week
from rightsdesk.query_log import QueryLog
from test_datasette import METADATA, PASSWORD, get, serving

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
K = 3
DASHBOARD = yaml.safe_load(METADATA.read_text())["plugins"]["datasette-dashboards"]["query-log"]
CHARTS = ("by-language", "outcomes", "gaps", "not-helpful")
# Below k: two people in one week; and two, one and one person in three weeks (four weekly
# pseudonyms, but never three in a week, so possibly only two people).
BELOW_K = ("is kratom tea allowed at work", "can my boss test my hair")


@dataclass(frozen=True)
class Ask:
    week: int  # weeks before this one
    lang: str
    decision: str
    text: str
    user: int
    top_id: str | None = None
    helpful: bool | None = None


def _asks() -> list[Ask]:
    asks: list[Ask] = []

    def add(week: int, lang: str, decision: str, text: str, users: range | list[int], **kw):
        asks.extend(Ask(week, lang, decision, text, u, **kw) for u in users)

    # Two weeks ago
    add(2, "en", "answer", "can police take my phone", range(1, 5), top_id="ii-9-privacy")
    add(2, "en", "none", "where can i get methadone in hue", range(1, 4))
    add(2, "en", "clarify", "my brother was taken", [1, 2])  # two people: not drawn
    add(2, "vi", "answer", "cong an giu dien thoai", [20], top_id="ii-9-privacy")
    add(2, "my", "answer", "police phone", [21], top_id="ii-9-privacy")  # "other": 2 people
    add(2, "en", "none", BELOW_K[1], [22, 23])
    # Last week
    add(1, "en", "answer", "what are my rights if arrested", range(1, 4), top_id="ii-7-detention")
    add(1, "ms", "none", "Where can I get methadone in Hue", range(30, 33))  # lower() groups it
    add(1, "en", "clarify", "my brother was taken", range(1, 4))
    add(1, "vi", "answer", "bi bat thi sao", [40, 41], top_id="ii-7-detention")
    add(1, "my", "answer", "arrest", [42], top_id="ii-7-detention")  # "other": 3 people
    add(1, "th", "none", BELOW_K[0], [43, 44])
    add(1, "en", "none", BELOW_K[1], [45])
    # This week
    add(0, "tl", "answer", "pwede ba akong tumanggi sa drug test", range(50, 53), top_id="ii-4")
    add(0, "tl", "answer", "drug test sa trabaho", [50, 50], top_id="iv-2-remedies")
    add(0, "id", "none", "can i refuse a urine test", range(54, 57))
    add(0, "en", "none", BELOW_K[1], [57])
    return asks


ASKS = _asks()
# Ratings: 3 people rate ii-9-privacy (2 not helpful); 2 people rate ii-7-detention; one
# person rates iv-2-remedies three times. Only ii-9-privacy has k ratings from k people.
RATINGS = {
    ("ii-9-privacy", 2, 1): False,
    ("ii-9-privacy", 2, 2): False,
    ("ii-9-privacy", 2, 3): True,
    ("ii-7-detention", 1, 1): False,
    ("ii-7-detention", 1, 2): False,
    ("ii-4", 0, 50): False,
    ("iv-2-remedies", 0, 50): False,
}


def week_of(ago: int) -> str:
    return iso_week(datetime.now(UTC) - timedelta(weeks=ago))


# --- what each chart must show, counted here from ASKS, not by the SQL under test ------


def expected_by_language() -> set[tuple[str, str, int]]:
    people: dict[tuple[int, str], set[int]] = defaultdict(set)
    for a in ASKS:
        people[a.week, a.lang].add(a.user)
    pooled: dict[tuple[int, str], list[int]] = defaultdict(list)
    for a in ASKS:
        label = a.lang if len(people[a.week, a.lang]) >= K else "other"
        pooled[a.week, label].append(a.user)
    return {
        (week_of(w), label, len(users))
        for (w, label), users in pooled.items()
        if len(set(users)) >= K
    }


OUTCOMES = {
    "answer": "answered",
    "clarify": "clarified (did you mean...)",
    "none": "not found or declined",
}


def expected_outcomes() -> set[tuple[str, str, int]]:
    groups: dict[tuple[int, str], list[int]] = defaultdict(list)
    for a in ASKS:
        groups[a.week, a.decision].append(a.user)
    return {
        (week_of(w), OUTCOMES[d], len(users))
        for (w, d), users in groups.items()
        if len(set(users)) >= K
    }


def expected_gaps() -> set[tuple[str, int]]:
    weekly: dict[str, dict[int, list[int]]] = defaultdict(lambda: defaultdict(list))
    for a in ASKS:
        if a.decision == "none":
            weekly[a.text.lower()][a.week].append(a.user)
    return {
        (wording, sum(len(u) for u in weeks.values()))
        for wording, weeks in weekly.items()
        if max(len(set(u)) for u in weeks.values()) >= K
    }


def expected_not_helpful() -> set[tuple[str, float]]:
    ratings: dict[str, list[tuple[int, int, bool]]] = defaultdict(list)
    for a in ASKS:
        helpful = RATINGS.get((a.top_id, a.week, a.user)) if a.top_id else None
        if helpful is not None:
            ratings[a.top_id].append((a.week, a.user, helpful))  # type: ignore[index]
    return {
        (entry, round(sum(not h for *_, h in rs) / len(rs), 3))
        for entry, rs in ratings.items()
        if len(rs) >= K and len({(w, u) for w, u, _ in rs}) >= K
    }


def rows_of(chart: str, rows: list[dict[str, Any]]) -> set[tuple[Any, ...]]:
    fields = {
        "by-language": ("week", "lang", "questions"),
        "outcomes": ("week", "outcome", "questions"),
        "gaps": ("wording", "questions"),
        "not-helpful": ("entry", "rate"),
    }[chart]
    return {tuple(row[f] for f in fields) for row in rows}


EXPECTED = {
    "by-language": expected_by_language(),
    "outcomes": expected_outcomes(),
    "gaps": expected_gaps(),
    "not-helpful": expected_not_helpful(),
}


def test_the_rows_exercise_both_sides_of_k() -> None:
    # Guards the fixture itself: pooling drawn one week and not another, a gap merged across
    # languages and case, the below-k groups and entries left out.
    assert (week_of(1), "other", 5) in EXPECTED["by-language"]  # vi 2, my 1, th 2 people
    assert not any(
        week == week_of(2) and lang == "other" for week, lang, _ in EXPECTED["by-language"]
    )
    assert ("where can i get methadone in hue", 6) in EXPECTED["gaps"]
    assert not {w for w, _ in EXPECTED["gaps"]} & set(BELOW_K)
    assert EXPECTED["not-helpful"] == {("ii-9-privacy", 0.667)}
    assert (week_of(2), "clarified (did you mean...)", 2) not in EXPECTED["outcomes"]


# --- the server and the browser ----------------------------------------------------------


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("dashboard") / "rightsdesk.db"
    for ago in (2, 1, 0):
        # One log per week: a week's pseudonym key is made when the week is first seen.
        with QueryLog(path, secret=SECRET) as log:
            at = datetime.now(UTC) - timedelta(weeks=ago)
            for a in (a for a in ASKS if a.week == ago):
                key = log.record_query(
                    make_event(
                        a.text, user_id=a.user, lang=a.lang, decision=a.decision,
                        top_id=a.top_id, at=at,
                    )
                )  # fmt: skip
                helpful = RATINGS.get((a.top_id, a.week, a.user)) if a.top_id else None
                if helpful is not None:
                    log.record_feedback(key, helpful, at)
    return path


@pytest.fixture(scope="module")
def datasette(database: Path) -> Iterator[str]:
    with serving(database) as base:
        yield base


# Wraps fetch before any page script runs, to keep what each chart was sent.
RECORD_FETCHES = """
window.chartData = [];
const realFetch = window.fetch;
window.fetch = async (...args) => {
  const response = await realFetch(...args);
  const body = await response.clone().text();
  window.chartData.push({url: String(args[0]), status: response.status, body});
  return response;
};
"""

MARKS = """
return Object.fromEntries([...document.querySelectorAll('.dashboard-card-chart')].map(
  el => [el.id.replace('chart-', ''), el.querySelectorAll('svg g.mark-rect path').length]))
"""


@dataclass
class Page:
    html: str
    text: str
    marks: dict[str, int]
    data: dict[str, list[dict[str, Any]]]
    statuses: dict[str, int]
    requested: list[str]
    console: list[dict[str, Any]]
    screenshot: Path


@pytest.fixture(scope="module")
def page(datasette: str, tmp_path_factory: pytest.TempPathFactory) -> Page:
    # setup installs both with apt for the test extra: missing, they are a setup failure.
    for program in (CHROMIUM, CHROMEDRIVER):
        if not program.exists():
            pytest.fail(f"{program} is missing: run ./scripts/setup test,admin to install it")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",  # tests run as root in CI
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1400,1100",
        "--no-proxy-server",
        # Offline for certain: every name but the loopback address fails to resolve, so a
        # script or font from a CDN would fail to load here rather than pass by luck.
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    try:
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": RECORD_FETCHES})
        base = urllib.parse.urlsplit(datasette)
        # Signing in: the credentials in the address answer Datasette's Basic challenge,
        # and Chromium sends them again with the charts' own requests.
        driver.get(
            f"http://admin:{urllib.parse.quote(PASSWORD)}@{base.netloc}/-/dashboards/query-log"
        )
        expected_marks = {chart: len(EXPECTED[chart]) for chart in CHARTS}
        WebDriverWait(driver, 20).until(
            lambda d: {c: d.execute_script(MARKS).get(c) for c in CHARTS} == expected_marks,
            message=f"charts not drawn as expected: {driver.execute_script(MARKS)}",
        )
        fetched = driver.execute_script("return window.chartData")
        screenshot = tmp_path_factory.mktemp("screenshot") / "dashboard.png"
        driver.save_screenshot(str(screenshot))
        requested = [
            event["params"]["request"]["url"]
            for entry in driver.get_log("performance")
            if (event := json.loads(entry["message"])["message"])["method"]
            == "Network.requestWillBeSent"
        ]
        by_sql = {DASHBOARD["charts"][c]["query"]: c for c in CHARTS}
        data, statuses = {}, {}
        for f in fetched:
            sql = urllib.parse.parse_qs(urllib.parse.urlsplit(f["url"]).query)["sql"][0]
            chart = by_sql[sql]
            statuses[chart] = f["status"]
            data[chart] = json.loads(f["body"])["rows"]
        return Page(
            html=driver.page_source,
            text=driver.find_element("tag name", "body").text,
            marks=driver.execute_script(MARKS),
            data=data,
            statuses=statuses,
            requested=requested,
            console=driver.get_log("browser"),
            screenshot=screenshot,
        )
    finally:
        driver.quit()


# --- the tests ---------------------------------------------------------------------------


@pytest.mark.parametrize("chart", CHARTS)
def test_each_chart_is_drawn_from_its_k_anonymous_rows(page: Page, chart: str) -> None:
    assert page.statuses[chart] == 200
    assert rows_of(chart, page.data[chart]) == EXPECTED[chart]
    assert page.marks[chart] == len(EXPECTED[chart]) > 0  # one bar per row


def test_the_charts_carry_their_labels(page: Page) -> None:
    for chart in CHARTS:
        assert DASHBOARD["charts"][chart]["title"] in page.text
    # Axis labels and legends are SVG text: the words a reader needs are on the page.
    for label in ("where can i get methadone in hue", "ii-9-privacy", "not found or declined"):
        assert label in page.html
    assert "other" in {row["lang"] for row in page.data["by-language"]}


def test_nothing_below_k_and_no_pseudonym_reaches_the_page(page: Page, database: Path) -> None:
    with sqlite3.connect(database) as db:
        askers = [asker for (asker,) in db.execute("select distinct asker from queries")]
    sent = json.dumps(page.data)
    for below in BELOW_K:
        assert below not in page.html
        assert below not in sent
    for entry in ("ii-7-detention", "iv-2-remedies", "ii-4"):
        assert entry not in {row["entry"] for row in page.data["not-helpful"]}
    assert askers
    assert not [a for a in askers if a in page.html or a in sent]
    assert all("asker" not in row for rows in page.data.values() for row in rows)


def test_the_page_loads_nothing_from_outside_and_logs_no_error(page: Page, datasette: str) -> None:
    host = urllib.parse.urlsplit(datasette).netloc
    outside = [
        url
        for url in page.requested
        if not url.startswith("data:") and urllib.parse.urlsplit(url).netloc.split("@")[-1] != host
    ]
    assert outside == []
    assert any(url.endswith("/vega.min.js") for url in page.requested)
    assert [entry for entry in page.console if entry["level"] == "SEVERE"] == []
    assert "error" not in page.text.lower()


def test_a_screenshot_is_taken(page: Page) -> None:
    png = page.screenshot.read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    # Charts, not a blank page. To look at it: pytest --basetemp=DIR keeps it in DIR.
    assert len(png) > 20_000


# --- refusals, over plain HTTP -----------------------------------------------------------


def chart_url(base: str, sql: str, path: str = "/rightsdesk.json") -> str:
    return f"{base}{path}?" + urllib.parse.urlencode({"sql": sql, "_shape": "objects"})


@pytest.mark.parametrize("path", ["/-/dashboards", "/-/dashboards/query-log", "chart"])
def test_anonymous_gets_neither_the_dashboard_nor_its_data(datasette: str, path: str) -> None:
    url = (
        chart_url(datasette, DASHBOARD["charts"]["gaps"]["query"])
        if path == "chart"
        else f"{datasette}{path}"
    )
    status, body = get(url)
    assert status == 401
    assert b"methadone" not in body


def test_the_admin_runs_a_charts_query(datasette: str) -> None:
    status, body = get(
        chart_url(datasette, DASHBOARD["charts"]["gaps"]["query"]), auth=("admin", PASSWORD)
    )
    assert status == 200
    assert rows_of("gaps", json.loads(body)["rows"]) == EXPECTED["gaps"]


@pytest.mark.parametrize(
    "case", ["own sql", "chart sql changed", "second sql", "html editor", "csv"]
)
def test_the_admin_can_run_no_other_sql(datasette: str, case: str) -> None:
    gaps = DASHBOARD["charts"]["gaps"]["query"]
    url = {
        "own sql": chart_url(datasette, "select text, asker from queries"),
        "chart sql changed": chart_url(datasette, gaps.replace(">= 3", ">= 1")),
        "second sql": chart_url(datasette, gaps) + "&sql=select+text+from+queries",
        "html editor": chart_url(datasette, gaps, path="/rightsdesk"),
        "csv": chart_url(datasette, gaps, path="/rightsdesk.csv"),
    }[case]
    status, body = get(url, auth=("admin", PASSWORD))
    assert status == 403
    assert b"kratom" not in body
    assert b"hair" not in body


# Datasette's own CLI with rightsdesk's plugin taken out again after the entry points load.
WITHOUT_THE_PLUGIN = """
from datasette.cli import cli
from datasette.plugins import pm
import rightsdesk.dashboard_sql
pm.unregister(rightsdesk.dashboard_sql)
cli()
"""


def test_without_rightsdesks_plugin_the_dashboard_is_refused_not_opened(database: Path) -> None:
    with serving(database, datasette=(sys.executable, "-c", WITHOUT_THE_PLUGIN)) as base:
        status, body = get(f"{base}/-/plugins.json", auth=("admin", PASSWORD))
        assert status == 200
        names = {plugin["name"] for plugin in json.loads(body)}
        assert "datasette-dashboards" in names
        assert "rightsdesk" not in names
        assert get(f"{base}/-/dashboards/query-log", auth=("admin", PASSWORD))[0] == 403
        own = chart_url(base, "select text from queries")
        assert get(own, auth=("admin", PASSWORD))[0] == 403
