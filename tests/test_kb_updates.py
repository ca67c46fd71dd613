"""The puller against a real HTTP server on 127.0.0.1: installs, 304s, and every failure
reported in one sentence while the current knowledge base stays."""

from __future__ import annotations

import asyncio
import base64
import threading
import time
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass, field, replace
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bundle_factory import ROOT, Built, build
from rightsdesk.config import ConfigError, Settings
from rightsdesk.content import check_content
from rightsdesk.kb_updates import KbUpdater, PullResult

BROKEN = "knowledge_base/topics/topic-drug-tests.yaml"
# A credential in the query string: it must never reach a report.
QUERY = "?token=SECRET-IN-QUERY"


@dataclass
class Served:
    """What the fake update server answers, and what it was asked."""

    body: bytes = b""
    status: int = 200
    etag: str = '"v1"'
    delay_s: float = 0.0
    location: str | None = None
    asked: list[str | None] = field(default_factory=list)  # If-None-Match of each request


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        served = self.server.served
        served.asked.append(self.headers.get("If-None-Match"))
        time.sleep(served.delay_s)
        if served.location:
            self.send_response(302)
            self.send_header("Location", served.location)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if served.status == 200 and self.headers.get("If-None-Match") == served.etag:
            self.send_response(304)
            self.end_headers()
            return
        body = served.body if served.status == 200 else b"oops"
        self.send_response(served.status)
        self.send_header("ETag", served.etag)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with suppress(BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    served: Served


@pytest.fixture
def server() -> Iterator[tuple[str, Served]]:
    httpd = _Server(("127.0.0.1", 0), _Handler)
    httpd.served = Served()
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/kb.tar.gz{QUERY}", httpd.served
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return build(tmp_path_factory.mktemp("bundle"))


@dataclass
class Bot:
    """The two callbacks the bot gives the updater, recording their calls."""

    installed: list[Path] = field(default_factory=list)
    reports: list[str] = field(default_factory=list)
    fail_install: str | None = None
    check: bool = False  # run the kb check on what it is given (3 s, so only where it matters)

    def install(self, folder: Path) -> str:
        if self.fail_install:
            raise RuntimeError(self.fail_install)
        self.installed.append(folder)
        if not self.check:
            return folder.name
        found = check_content(folder / "knowledge_base", folder / "bot" / "messages.yaml")
        assert found.ok and found.kb is not None, found.problems
        return found.kb.version


def updater(
    url: str, built: Built, tmp_path: Path, bot: Bot, hours: float = 6.0, **options: object
) -> KbUpdater:
    settings = replace(
        Settings.defaults(ROOT),
        db_path=tmp_path / "data" / "rightsdesk.db",
        kb_url=url,
        kb_public_key=built.public_key,
        kb_check_hours=hours,
    )
    return KbUpdater(settings, install=bot.install, report=bot.reports.append, **options)  # type: ignore[arg-type]


def refused(result: PullResult, bot: Bot, *says: str) -> None:
    """The check failed, said why in one sentence, and nothing was installed."""
    assert result.failed and bot.installed == []
    [report] = bot.reports
    assert report == result.message and report.endswith("the current knowledge base stays.")
    assert "\n" not in report and "SECRET" not in report
    for part in says:
        assert part in report


async def test_a_good_bundle_installs_once_and_then_the_etag_gets_a_304(
    server: tuple[str, Served], built: Built, tmp_path: Path
) -> None:
    url, served = server
    served.body = built.data
    bot = Bot(check=True)
    pull = updater(url, built, tmp_path, bot)
    first = await pull.check_once()
    assert first.status == "installed" and first.version == built.manifest.content_version
    [folder] = bot.installed
    assert folder == tmp_path / "data" / "kb-updates" / built.manifest.name
    assert (folder / "manifest.json").exists() and bot.reports == []
    second = await pull.check_once()
    assert second.status == "unchanged", second.message
    assert served.asked == [None, '"v1"']
    assert len(bot.installed) == 1 and pull.live_version == first.version


async def test_a_file_altered_after_signing_is_refused(
    server: tuple[str, Served], built: Built, tmp_path: Path
) -> None:
    url, served = server
    files = dict(built.files)
    files[BROKEN] = files[BROKEN].replace(b"police", b"p0lice", 1)
    assert files[BROKEN] != built.files[BROKEN]
    served.body = built.doctored(files=files, listed=built.files)
    bot = Bot()
    refused(await updater(url, built, tmp_path, bot).check_once(), bot, "altered after")
    assert not (tmp_path / "data" / "kb-updates").exists()


async def test_a_bundle_signed_with_another_key_is_refused(
    server: tuple[str, Served], built: Built, tmp_path: Path
) -> None:
    url, served = server
    served.body = built.doctored(key=Ed25519PrivateKey.generate())
    bot = Bot()
    refused(await updater(url, built, tmp_path, bot).check_once(), bot, "another key")


async def test_a_timeout_is_reported_and_the_next_check_works(
    server: tuple[str, Served], built: Built, tmp_path: Path
) -> None:
    url, served = server
    served.body, served.delay_s = built.data, 1.5
    bot = Bot()
    pull = updater(url, built, tmp_path, bot, timeout_s=0.3)
    started = time.monotonic()
    refused(await pull.check_once(), bot, "did not answer within 0.3 s")
    assert time.monotonic() - started < 1.4
    served.delay_s = 0
    assert (await pull.check_once()).status == "installed" and len(bot.installed) == 1


async def test_a_server_error_is_reported(
    server: tuple[str, Served], built: Built, tmp_path: Path
) -> None:
    url, served = server
    served.status = 500
    bot = Bot()
    refused(await updater(url, built, tmp_path, bot).check_once(), bot, "answered 500")


@pytest.mark.parametrize("body", [b"<html>maintenance</html>", b"cut"])
async def test_garbage_or_a_truncated_body_is_refused(
    server: tuple[str, Served], built: Built, tmp_path: Path, body: bytes
) -> None:
    url, served = server
    served.body = built.data[: len(built.data) // 3] if body == b"cut" else body
    bot = Bot()
    refused(await updater(url, built, tmp_path, bot).check_once(), bot, "not a complete gzip tar")


async def test_a_path_traversal_entry_is_refused(
    server: tuple[str, Served], built: Built, tmp_path: Path
) -> None:
    url, served = server
    evil = dict(built.files) | {"knowledge_base/../../../evil.yaml": b"id: evil\n"}
    served.body = built.doctored(files=evil, listed=evil)
    bot = Bot()
    refused(await updater(url, built, tmp_path, bot).check_once(), bot, "not a plain path")
    assert not list(tmp_path.rglob("evil.yaml"))


async def test_an_older_bundle_is_refused_after_a_newer_one(
    server: tuple[str, Served], built: Built, tmp_path: Path
) -> None:
    url, served = server
    served.body = built.data
    bot = Bot()
    assert (await updater(url, built, tmp_path, bot).check_once()).status == "installed"
    # A restarted bot (a new updater, nothing in memory) still refuses the replay.
    served.body, served.etag = (
        built.doctored(created=built.manifest.created - timedelta(days=3)),
        '"v0"',
    )
    later = Bot()
    refused(await updater(url, built, tmp_path, later).check_once(), later, "refused as a rollback")
    forced = await updater(url, built, tmp_path, later, force=True).check_once()
    assert forced.status == "installed" and len(later.installed) == 1


async def test_signed_content_that_fails_the_check_is_refused_naming_the_file(
    server: tuple[str, Served], built: Built, tmp_path: Path
) -> None:
    url, served = server
    served.body = built.doctored(files=dict(built.files) | {BROKEN: b"id: [unclosed\n"})
    bot = Bot()
    refused(
        await updater(url, built, tmp_path, bot).check_once(), bot, f"{BROKEN}:", "invalid YAML"
    )
    assert [p.name for p in (tmp_path / "data" / "kb-updates").iterdir()] == []


async def test_an_install_that_raises_is_reported_and_tried_again_next_time(
    server: tuple[str, Served], built: Built, tmp_path: Path
) -> None:
    url, served = server
    served.body = built.data
    bot = Bot(fail_install="the matcher ran out of memory")
    pull = updater(url, built, tmp_path, bot)
    refused(await pull.check_once(), bot, "not installed: the matcher ran out of memory")
    assert list((tmp_path / "data" / "kb-updates").iterdir()) == []
    bot.fail_install = None
    assert (await pull.check_once()).status == "installed"
    assert served.asked == [None, None]  # no ETag kept from the failed attempt


async def test_a_redirect_to_plain_http_elsewhere_is_not_followed(
    server: tuple[str, Served], built: Built, tmp_path: Path
) -> None:
    url, served = server
    served.location = "http://updates.example.org/kb.tar.gz?token=SECRET-TOO"
    bot = Bot()
    refused(await updater(url, built, tmp_path, bot).check_once(), bot, "redirected to")
    assert len(served.asked) == 1


async def test_the_schedule_survives_failures_and_stops_when_cancelled(
    server: tuple[str, Served], built: Built, tmp_path: Path
) -> None:
    url, served = server
    served.status = 503
    bot = Bot()
    pull = updater(url, built, tmp_path, bot, hours=0.05 / 3600)
    task = asyncio.create_task(pull.run())
    for _ in range(100):
        await asyncio.sleep(0.05)
        if len(bot.reports) >= 3:
            break
    assert len(bot.reports) >= 3 and not task.done()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"RIGHTSDESK_KB_URL": "http://updates.example.org/kb?token=SECRET"}, "must use https://"),
        ({"RIGHTSDESK_KB_URL": "https://updates.example.org/kb"}, "RIGHTSDESK_KB_PUBLIC_KEY"),
        ({"RIGHTSDESK_KB_PUBLIC_KEY": "not-a-key"}, "44 characters of base64"),
        ({"RIGHTSDESK_KB_CHECK_HOURS": "0"}, "above 0 and at most 744"),
        ({"RIGHTSDESK_KB_PUBLIC_KEY_FILE": "/nonexistent/kb.pub"}, "Cannot read"),
    ],
)
def test_update_settings_are_checked_with_one_clear_line(env: dict[str, str], says: str) -> None:
    with pytest.raises(ConfigError, match=says) as error:
        Settings.from_env(env)
    assert "SECRET" not in str(error.value) and "\n" not in str(error.value)


def test_update_settings_are_read(tmp_path: Path) -> None:
    key = base64.b64encode(bytes(range(32))).decode()
    (tmp_path / "kb.pub").write_text(key + "\n")
    settings = Settings.from_env(
        {
            "RIGHTSDESK_KB_URL": "https://updates.example.org/kb.tar.gz",
            "RIGHTSDESK_KB_PUBLIC_KEY_FILE": str(tmp_path / "kb.pub"),
            "RIGHTSDESK_KB_CHECK_HOURS": "1.5",
            "RIGHTSDESK_DB": str(tmp_path / "db" / "rd.db"),
        }
    )
    assert settings.kb_public_key == bytes(range(32)) and settings.kb_check_hours == 1.5
    assert settings.kb_updates_dir == tmp_path / "db" / "kb-updates"
    assert Settings.from_env({}).kb_check_hours == 6 and Settings.from_env({}).kb_url is None
