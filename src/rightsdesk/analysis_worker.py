"""Analysing questions in a process of its own, so that the Telegram bot uses a second core.

Answering a question is about half pure computation on its text (emergency recognition and
matching, :mod:`rightsdesk.analysis`) and half everything else (Telegram, the conversation,
the log). In one Python process the two take turns under one interpreter lock, whatever the
machine has; with the analysis in a worker process, the bot's process sends the next reply
while the worker matches the next question.

What crosses the pipe: the question's text (as :func:`rightsdesk.desk.question_text` cut
it), a sequence number, and back entry ids, scores and language codes. Never a user id, a
name or a chat id: the worker cannot tell who asked, and writes nothing anywhere.

Measured with ``tests/bench_telegram.py --skip-production`` on a 2-core machine shared with
other jobs (runs interleaved): without the worker 100-177 updates/s, 15-29% of a bare
python-telegram-bot echo bot; with it 152-342, 23-61%, the high end when the second core was
free. On a 1-core server there is no second core to use (not measured; RIGHTSDESK_WORKER=0
saves the worker's memory there). The worker uses about 270 MB.

The rules, all in :class:`AnalysisWorker`:

- Started afresh as ``python -P -m rightsdesk.analysis_worker`` (never forked from the
  threaded bot; ``-P``: nothing in the current folder can stand in for a module). It loads
  the same content folders as the desk and reports the version it loaded.
- Every answer carries its content version, and the desk uses it only when it equals the
  version it serves itself (:meth:`rightsdesk.desk.Desk.ask_async`). A reload starts a new
  worker on the new folders at once; until it is ready the desk analyses in-process.
- A worker that is not ready, dead, broken or slower than ``timeout_s`` costs nobody a
  reply: :meth:`AnalysisWorker.analyse` returns None and the desk computes the answer itself.
  A worker that died or was too slow is killed and started again with backoff (0.5 s,
  doubling up to ``max_backoff_s``; reset once a worker has lived a minute), so a worker that
  crashes on start cannot keep a small server busy loading content.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("rightsdesk.analysis_worker")

COMMAND = (sys.executable, "-P", "-m", "rightsdesk.analysis_worker")
FIRST_RESTART_S = 0.5
HEALTHY_AFTER_S = 60.0  # a worker that lived this long resets the backoff
LINE_LIMIT = 1 << 20  # an answer is a few hundred bytes; anything longer is garbage


# -- the worker process -------------------------------------------------------------------


def serve() -> int:
    """The worker's main loop: a config line in, then ``["ask", seq, text]`` lines in and
    ``["done", seq, version, analysis]`` (or ``["error", seq, kind]``) lines out."""
    from rightsdesk import analysis, languages
    from rightsdesk.content import check_content
    from rightsdesk.matching import Matcher

    stdin = sys.stdin.buffer
    # The pipe to the desk is for answers only: whatever a library prints goes to stderr.
    stdout = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)

    def send(message: Any) -> None:
        stdout.write(json.dumps(message, separators=(",", ":")).encode() + b"\n")
        stdout.flush()

    config = json.loads(stdin.readline() or "null")
    if not isinstance(config, dict):
        return 2
    found = check_content(Path(config["kb_dir"]), Path(config["messages_path"]))
    if not found.ok or found.kb is None:
        send(["failed", f"{len(found.problems)} problem(s) in the content"])
        return 1
    matcher = Matcher(found.kb, scope=found.scope)
    languages.load_models()
    version = analysis.version(found.kb, found.emergencies, found.scope)
    send(["ready", version])
    for line in stdin:
        message = json.loads(line)
        if message[0] != "ask":
            break
        _, seq, text = message
        try:
            done = analysis.analyse(str(text), matcher, found.emergencies)
            send(["done", seq, version, analysis.to_wire(done)])
        except Exception as error:  # the text is never in the reply
            send(["error", seq, type(error).__name__])
        del text, message, line
    return 0


# -- the desk's side ----------------------------------------------------------------------


@dataclass
class WorkerStats:
    answered: int = 0  # answers handed to the desk
    fell_back: int = 0  # questions the desk analysed itself: not ready, dead, slow, broken
    slow: int = 0  # answers later than the timeout (the worker is then replaced)
    restarts: int = 0  # workers started after the first
    ready: bool = False
    version: str | None = None  # what the worker serves now
    pid: int | None = None


@dataclass
class _Process:
    process: asyncio.subprocess.Process
    expected: str  # the version the desk serves with these folders
    started: float
    version: str | None = None  # set when it says it is ready
    replaced: bool = False  # stopped on purpose (a reload), not dead
    pending: dict[int, asyncio.Future[tuple[str, dict[str, Any]] | None]] = field(
        default_factory=dict
    )


class AnalysisWorker:
    """The desk's handle on one worker process at a time. Asyncio only: construct and
    :meth:`start` it on the bot's event loop; :meth:`reload` may be called from any thread.
    """

    def __init__(
        self,
        command: Sequence[str] = COMMAND,
        *,
        timeout_s: float = 1.0,
        max_backoff_s: float = 30.0,
    ) -> None:
        self.command = tuple(command)
        self.timeout_s = timeout_s
        self.max_backoff_s = max_backoff_s
        self.stats = WorkerStats()
        self._content: tuple[Path, Path, str] | None = None
        self._current: _Process | None = None
        self._seq = 0
        self._delay = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._ready = asyncio.Event()
        self._closing = False
        self._started_once = False

    # -- lifecycle

    def start(self, kb_dir: Path, messages_path: Path, version: str) -> None:
        """Start a worker on these folders, expected to load ``version``; returns at once
        (the worker takes seconds to load, and the desk answers in-process meanwhile)."""
        self._loop = asyncio.get_running_loop()
        self._content = (kb_dir, messages_path, version)
        if self._supervisor is None:
            self._supervisor = self._loop.create_task(self._supervise())
        self._wake.set()

    def reload(self, kb_dir: Path, messages_path: Path, version: str) -> None:
        """The desk now serves ``version`` from these folders: replace the worker (from any
        thread). Its answers from the old version would be refused anyway."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the loop stopped meanwhile
            loop.call_soon_threadsafe(self._replace, kb_dir, messages_path, version)

    async def wait_ready(self, timeout: float) -> bool:
        """Wait until a worker serves (for benchmarks and tests); False on timeout."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready.wait(), timeout)
        return self._ready.is_set()

    async def close(self) -> None:
        self._closing = True
        self._wake.set()
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
            self._supervisor = None
        if self._current is not None:
            await self._stop(self._current)
            self._current = None

    # -- asking

    async def analyse(self, text: str) -> tuple[str, dict[str, Any]] | None:
        """(version, wire analysis) from the worker, or None when the desk must compute it
        itself: no worker ready, it died or failed on this text, or it took too long."""
        current = self._current
        stdin = current.process.stdin if current is not None else None
        if current is None or current.version is None or stdin is None or stdin.is_closing():
            self.stats.fell_back += 1
            return None
        self._seq += 1
        seq = self._seq
        future: asyncio.Future[tuple[str, dict[str, Any]] | None]
        future = asyncio.get_running_loop().create_future()
        current.pending[seq] = future
        try:
            line = json.dumps(["ask", seq, text], separators=(",", ":")).encode() + b"\n"
            stdin.write(line)
            answer = await asyncio.wait_for(future, self.timeout_s)
        except TimeoutError:
            self.stats.slow += 1
            log.warning("the analysis worker took over %.1f s; replacing it", self.timeout_s)
            self._kill(current)
            answer = None
        except (OSError, RuntimeError):  # its pipe closed
            answer = None
        finally:
            current.pending.pop(seq, None)
        if answer is None:
            self.stats.fell_back += 1
        else:
            self.stats.answered += 1
        return answer

    # -- inside

    def _replace(self, kb_dir: Path, messages_path: Path, version: str) -> None:
        self._content = (kb_dir, messages_path, version)
        if self._current is not None:
            self._current.replaced = True
            self._kill(self._current)  # the supervisor starts the next one at once
        self._delay = 0.0
        self._wake.set()

    async def _supervise(self) -> None:
        while not self._closing:
            await self._wake.wait()
            self._wake.clear()
            if self._closing or self._content is None:
                continue
            if self._delay:
                await asyncio.sleep(self._delay)
            kb_dir, messages_path, expected = self._content
            try:
                current = await self._spawn(kb_dir, messages_path, expected)
            except Exception as error:  # a command that does not even start
                log.warning("the analysis worker did not start (%s)", type(error).__name__)
                self._backoff(None)
                self._wake.set()
                continue
            await self._read(current)  # until it exits or is killed
            self._current = None
            self._ready.clear()
            self.stats.ready, self.stats.version, self.stats.pid = False, None, None
            for future in current.pending.values():
                if not future.done():
                    future.set_result(None)
            await self._stop(current)
            if self._closing:
                return
            if not current.replaced:
                code = current.process.returncode
                log.warning("the analysis worker stopped (exit status %s); restarting", code)
                self._backoff(current)
            self._wake.set()

    async def _spawn(self, kb_dir: Path, messages_path: Path, expected: str) -> _Process:
        process = await asyncio.create_subprocess_exec(
            *self.command,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=LINE_LIMIT,
        )
        if self._started_once:
            self.stats.restarts += 1
        self._started_once = True
        current = _Process(process, expected, time.monotonic())
        self._current = current
        self.stats.pid = process.pid
        assert process.stdin is not None
        config = {"kb_dir": str(kb_dir), "messages_path": str(messages_path)}
        process.stdin.write(json.dumps(config).encode() + b"\n")
        return current

    async def _read(self, current: _Process) -> None:
        stdout = current.process.stdout
        assert stdout is not None
        while True:
            try:
                line = await stdout.readline()
                if not line:
                    return
                message = json.loads(line)
                kind = message[0]
                if kind == "ready":
                    if message[1] != current.expected:
                        log.warning(
                            "the analysis worker loaded %s but the desk serves %s: not used",
                            message[1],
                            current.expected,
                        )
                        self._kill(current)
                        continue
                    current.version = str(message[1])
                    self.stats.ready, self.stats.version = True, current.version
                    self._ready.set()
                elif kind in ("done", "error"):
                    future = current.pending.get(message[1])
                    if future is not None and not future.done():
                        done = kind == "done" and isinstance(message[3], dict)
                        future.set_result((str(message[2]), message[3]) if done else None)
                else:
                    log.warning("the analysis worker said %r; replacing it", str(kind)[:40])
                    self._kill(current)
            except (ValueError, TypeError, IndexError, KeyError) as error:
                log.warning("the analysis worker sent garbage (%s); replacing it", error)
                self._kill(current)
                return

    def _backoff(self, current: _Process | None) -> None:
        if current is not None and time.monotonic() - current.started > HEALTHY_AFTER_S:
            self._delay = 0.0
        self._delay = min(max(self._delay * 2, FIRST_RESTART_S), self.max_backoff_s)

    @staticmethod
    def _kill(current: _Process) -> None:
        with contextlib.suppress(ProcessLookupError):
            current.process.kill()

    @staticmethod
    async def _stop(current: _Process) -> None:
        process = current.process
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(process.wait(), 5.0)
        if process.stdin is not None:
            with contextlib.suppress(Exception):
                process.stdin.close()


if __name__ == "__main__":
    raise SystemExit(serve())
