"""The documented Datasette setup: admins get the saved queries, nobody else gets anything.

Starts `datasette serve` as deploy/datasette/README.md says, on a free port on 127.0.0.1,
with the admin password hash made by `datasette hash-password` in the environment.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

pytest.importorskip("datasette")
pytest.importorskip("datasette_auth_passwords")

from conftest import SECRET
from rightsdesk.query_log import QueryEvent, QueryLog

METADATA = Path(__file__).resolve().parents[1] / "deploy" / "datasette" / "metadata.yml"
DATASETTE = Path(sys.executable).with_name("datasette")
PASSWORD = "correct horse battery staple"

# Loopback only, and never through a proxy that a developer's environment may set.
http = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str, *, auth: tuple[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url)
    if auth:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with http.open(request, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def unanswered(text: str, user: int) -> QueryEvent:
    return QueryEvent(
        text=text,
        lang="en",
        decision="none",
        top_id=None,
        top_score=None,
        runner_up_ids=(),
        kb_version="test",
        handling_ms=1.0,
        user_id=user,
        sender_names=(),
        at=datetime.now(UTC),
    )


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # The file name gives the database its name in Datasette, and the saved queries in
    # metadata.yml belong to "rightsdesk".
    path = tmp_path_factory.mktemp("datasette") / "rightsdesk.db"
    with QueryLog(path, secret=SECRET) as log:
        for user in (1, 2, 3):
            log.record_query(unanswered("can police take my phone", user))
        log.record_query(unanswered("where is methadone in Hue", 4))  # one person only
    return path


@contextlib.contextmanager
def serving(database: Path, datasette: Sequence[str] = (str(DATASETTE),)) -> Iterator[str]:
    """`datasette serve` as documented, on a free port; yields its base URL.

    ``datasette`` is the program to run it with (another way of starting the same CLI).
    """
    password_hash = subprocess.run(
        [str(DATASETTE), "hash-password", "--no-confirm"],
        input=PASSWORD,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    port = free_port()
    # The command documented in deploy/datasette/README.md, on a free port.
    command = [
        *(*datasette, "serve", str(database), "-m", str(METADATA)),
        *("--host", "127.0.0.1", "--port", str(port)),
        *("--setting", "allow_download", "off"),
    ]
    env = {**os.environ, "RIGHTSDESK_ADMIN_PASSWORD_HASH": password_hash}
    output = database.with_name(f"datasette-{port}.log")
    with output.open("wb") as log:
        server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                get(f"{base}/-/versions.json")
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    message = output.read_text(errors="replace")
                    raise RuntimeError(f"datasette did not start: {message}") from None
                time.sleep(0.1)
        yield base
    finally:
        server.kill()
        server.wait(timeout=5)


@pytest.fixture(scope="module")
def datasette(database: Path) -> Iterator[str]:
    with serving(database) as base:
        yield base


def test_admin_can_run_the_saved_queries(datasette: str) -> None:
    status, body = get(
        f"{datasette}/rightsdesk/unanswered_this_week.json?_shape=array", auth=("admin", PASSWORD)
    )
    assert status == 200
    rows = json.loads(body)
    # A wording three people sent is shown, with its counts; one person's is not.
    assert [(r["text"], r["people"]) for r in rows] == [("can police take my phone", 3)]
    status, body = get(
        f"{datasette}/rightsdesk/unanswered_count.json?_shape=array", auth=("admin", PASSWORD)
    )
    assert json.loads(body)[0]["unanswered"] == 4
    for query in ("top_entries", "not_helpful_answers", "language_mix"):
        status, _ = get(f"{datasette}/rightsdesk/{query}.json", auth=("admin", PASSWORD))
        assert status == 200, query


@pytest.mark.parametrize(
    "path", ["/", "/rightsdesk", "/rightsdesk/queries.json", "/rightsdesk.db",
             "/rightsdesk/unanswered_this_week.json"],
)  # fmt: skip
def test_anonymous_requests_are_refused(datasette: str, path: str) -> None:
    status, body = get(f"{datasette}{path}")
    assert status == 401
    assert b"methadone" not in body


@pytest.mark.parametrize(
    "path",
    [
        "/rightsdesk/queries.json",
        "/rightsdesk/queries",
        "/rightsdesk/feedback.json",
        "/rightsdesk.db",
        "/rightsdesk.json?sql=select+text+from+queries",
        "/rightsdesk?sql=select+text+from+queries",
    ],
)
def test_even_an_admin_cannot_read_single_questions(datasette: str, path: str) -> None:
    status, body = get(f"{datasette}{path}", auth=("admin", PASSWORD))
    assert status == 403, path
    assert b"methadone" not in body


def test_a_wrong_password_is_refused(datasette: str) -> None:
    status, _ = get(f"{datasette}/rightsdesk/queries.json", auth=("admin", "guess"))
    assert status == 401


def test_the_live_database_is_served_while_the_bot_writes(datasette: str, database: Path) -> None:
    with QueryLog(database, secret=SECRET) as log:
        for user in (5, 6, 7):
            log.record_query(unanswered("is naloxone legal here", user=user))
        log.flush()
        status, body = get(
            f"{datasette}/rightsdesk/unanswered_this_week.json?_shape=array",
            auth=("admin", PASSWORD),
        )
    assert status == 200
    assert "is naloxone legal here" in [row["text"] for row in json.loads(body)]
