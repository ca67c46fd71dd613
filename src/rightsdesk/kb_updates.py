"""Pulls signed knowledge-base updates and hands verified content to the running bot.

The bot wires it up once (``install`` and ``report`` are the bot's own callbacks)::

    updater = KbUpdater(settings, install=reload_from, report=tell_admins)
    task = asyncio.create_task(updater.run())  # checks now, then every kb_check_hours
    ...
    task.cancel()

Each check asks ``RIGHTSDESK_KB_URL`` for the bundle with the ETag of the last one seen (304:
nothing to do), reads at most :data:`~rightsdesk.kb_bundle.MAX_BYTES`, follows redirects only
to URLs the settings would accept, checks the bundle against ``RIGHTSDESK_KB_PUBLIC_KEY``,
refuses one older than the live or the newest installed bundle, unpacks it to
``<database folder>/kb-updates/<bundle>/`` and validates it (see :mod:`rightsdesk.kb_bundle`).
Only then is ``install(content_dir)`` called, with the folder holding ``knowledge_base/`` and
``bot/``. It runs in a worker thread, so that loading the new content and building its index
does not stall the bot; it returns the version now live, or raises, with a message, while the
old content is still live. Any failure leaves the live content as it was and calls
``report(sentence)`` with one plain sentence for the admins; the schedule goes on.

State (the last ETag, the live bundle) is kept in memory. The installed folders are the record
that survives a restart: a bundle older than the newest of them is refused as a rollback.
No user data is involved, and no message or log line shows the URL's query string.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

import httpx

from rightsdesk import __version__
from rightsdesk.config import ConfigError, Settings, kb_url_problem, redact_url
from rightsdesk.kb_bundle import (
    MAX_BYTES,
    Bundle,
    BundleError,
    StaleBundle,
    bundle_manifest,
    check_order,
    installed,
    unpack,
    verify_bundle,
)

log = logging.getLogger("rightsdesk.kb_updates")

Install = Callable[[Path], str]
Report = Callable[[str], None]
MAX_REDIRECTS = 5
DEFAULT_TIMEOUT_S = 60.0
KEEPS = "the current knowledge base stays"


class UpdateError(Exception):
    """A check failed before a bundle could be looked at; the message is one sentence."""


@dataclass(frozen=True)
class PullResult:
    """What one check did. ``version`` is the version live afterwards, when known."""

    status: Literal["installed", "unchanged", "failed"]
    message: str
    version: str | None = None
    folder: Path | None = None

    @property
    def failed(self) -> bool:
        return self.status == "failed"


class KbUpdater:
    """Checks for signed updates on a schedule (:meth:`run`) or once (:meth:`check_once`)."""

    def __init__(
        self,
        settings: Settings,
        *,
        install: Install,
        report: Report,
        live_version: str | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        force: bool = False,
    ) -> None:
        if settings.kb_url is None or settings.kb_public_key is None:
            raise ConfigError(
                "Knowledge-base updates need RIGHTSDESK_KB_URL and RIGHTSDESK_KB_PUBLIC_KEY."
            )
        self._url = settings.kb_url
        self._shown_url = redact_url(settings.kb_url)
        self._public_key = settings.kb_public_key
        self._updates_dir = settings.kb_updates_dir
        self._interval_s = settings.kb_check_hours * 3600
        self._install = install
        self._report = report
        self._timeout_s = timeout_s
        self._force = force
        self._etag: str | None = None
        self._lock = asyncio.Lock()
        self.live_version = live_version
        # Started on an unpacked bundle's content: that bundle is live, and is not installed
        # again; started on the packaged content, the newest bundle is (re)installed.
        live = bundle_manifest(settings.kb_dir.parent)
        self._live_created: datetime | None = live.created if live else None

    async def run(self) -> None:
        """Check now, then every ``kb_check_hours``, until cancelled. Never raises otherwise."""
        while True:
            await self.check_once()
            await asyncio.sleep(self._interval_s)

    async def check_once(self) -> PullResult:
        """One check; on failure ``report`` is called and the result says why."""
        async with self._lock:
            try:
                result = await self._check()
            except Exception as error:
                result = PullResult("failed", self._failure(error), self.live_version)
        if result.failed:
            # The report is the one channel for a failure: logged as well, the CLI and the
            # admins would read every sentence twice.
            try:
                self._report(result.message)
            except Exception:
                log.exception("The report callback failed")
        else:
            log.info("%s", result.message)
        return result

    async def _check(self) -> PullResult:
        fetched = await self._fetch()
        if fetched is None:
            return PullResult(
                "unchanged",
                "No knowledge-base update: the server has nothing new.",
                self.live_version,
            )
        data, etag = fetched
        try:
            bundle, folder = await asyncio.to_thread(self._prepare, data)
        except StaleBundle as stale:
            if not stale.same:
                raise
            self._etag = etag
            return PullResult("unchanged", f"No knowledge-base update: {stale}", self.live_version)
        try:
            version = await asyncio.to_thread(self._install, folder)
        except Exception as error:
            # Not installed, so not a floor for rollbacks: a later check may try it again.
            shutil.rmtree(folder, ignore_errors=True)
            raise _InstallFailed(
                f"bundle {bundle.manifest.name} was verified but not installed: {_clause(error)}"
            ) from error
        self._etag = etag
        self._live_created = bundle.manifest.created
        self.live_version = version
        return PullResult(
            "installed",
            f"Knowledge base {version} installed from bundle {bundle.manifest.name}.",
            version,
            folder,
        )

    def _prepare(self, data: bytes) -> tuple[Bundle, Path]:
        bundle = verify_bundle(data, self._public_key)
        newest = installed(self._updates_dir)
        check_order(
            bundle.manifest,
            live=self._live_created,
            newest=newest[-1].created if newest else None,
            force=self._force,
        )
        return bundle, unpack(bundle, self._updates_dir)

    async def _fetch(self) -> tuple[bytes, str | None] | None:
        """The bundle and its ETag, or None when the server says it has not changed."""
        headers = {
            "User-Agent": f"rightsdesk/{__version__}",
            # The bundle is compressed already; the cap must count the bytes as they arrive.
            "Accept-Encoding": "identity",
        }
        if self._etag:
            headers["If-None-Match"] = self._etag
        url = self._url
        async with (
            asyncio.timeout(self._timeout_s),
            httpx.AsyncClient(timeout=self._timeout_s, follow_redirects=False) as client,
        ):
            for _ in range(MAX_REDIRECTS + 1):
                async with client.stream("GET", url, headers=headers) as response:
                    if response.has_redirect_location:
                        url = str(response.url.join(response.headers["location"]))
                        problem = kb_url_problem(url)
                        if problem:
                            raise UpdateError(
                                f"The update server at {self._shown_url} redirected to {problem}"
                            )
                        continue
                    if response.status_code == httpx.codes.NOT_MODIFIED:
                        return None
                    if response.status_code != httpx.codes.OK:
                        raise UpdateError(
                            f"The update server at {self._shown_url} answered"
                            f" {response.status_code} {response.reason_phrase}."
                        )
                    return await _read_capped(response), response.headers.get("etag")
        raise UpdateError(f"The update server at {self._shown_url} redirected too many times.")

    def _failure(self, error: Exception) -> str:
        """One sentence for the admins. httpx's own messages may quote the URL: not used."""
        where = self._shown_url
        if isinstance(error, TimeoutError | httpx.TimeoutException):
            return (
                f"Knowledge-base update check failed: {where} did not answer within"
                f" {self._timeout_s:g} s; {KEEPS}."
            )
        if isinstance(error, httpx.HTTPError):
            return (
                f"Knowledge-base update check failed: {where} could not be reached"
                f" ({type(error).__name__}); {KEEPS}."
            )
        if isinstance(error, UpdateError | _InstallFailed):
            return f"Knowledge-base update check failed: {_clause(error)}; {KEEPS}."
        if isinstance(error, BundleError):
            return f"Knowledge-base update from {where} refused: {_clause(error)}; {KEEPS}."
        return (
            f"Knowledge-base update check failed ({type(error).__name__}: {_clause(error)});"
            f" {KEEPS}."
        )


class _InstallFailed(Exception):
    """The install callback raised; the message names the bundle."""


async def _read_capped(response: httpx.Response) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BYTES:
        raise BundleError(f"The bundle is {declared} bytes, over the limit of {MAX_BYTES}.")
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > MAX_BYTES:
            raise BundleError(f"The bundle is over the limit of {MAX_BYTES} bytes.")
        chunks.append(chunk)
    return b"".join(chunks)


def _clause(error: BaseException) -> str:
    """An exception's message as a clause inside a sentence: no full stop, lower-case start
    (unless it starts with a name in capitals, such as RIGHTSDESK_KB_URL)."""
    text = " ".join(str(error).split()).rstrip(".") or type(error).__name__
    if text[:2].isupper():
        return text
    return text[:1].lower() + text[1:]
