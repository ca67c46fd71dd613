"""How the bot's calls reach Telegram: HTTP with httpx, the body written as JSON.

python-telegram-bot's own ``HTTPXRequest`` posts every call as a form, so each reply is
percent-encoded by ``urllib`` one byte at a time in Python: for a reply of a few thousand
characters in Thai or Burmese (three bytes a letter) that was the largest single cost of
sending it, about a tenth of all the bot's own CPU time a question. Telegram reads JSON bodies
(``application/json``) as well as forms, and the standard library writes JSON in C. Calls that
upload a file (the fact sheet PDFs) still go as multipart forms, which is the only way Telegram
takes files.

Calls without files go straight to httpcore, the connection pool under httpx, unless a proxy
is configured in the environment (then httpx, which reads it, carries them): httpx's own
layers (building a request model, cookies, redirects, a response model) cost about a sixth of
the bot's CPU time a question, for nothing a bot posting to one host needs. The pool checks
every idle connection before each call; its network streams here answer "has the server
closed this?" with one poll of the socket, without the name lookups of the default streams.

Errors say what kind of failure it was and nothing else: httpx messages can hold the URL, and
the URL holds the bot token.
"""

from __future__ import annotations

import json
import select
import ssl
import urllib.request
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

_JSON_HEADERS = [(b"Content-Type", b"application/json"), (b"User-Agent", b"rightsdesk")]
_NETWORK_ERRORS = (
    httpcore.NetworkError,
    httpcore.ProtocolError,
    httpcore.UnsupportedProtocol,
    httpcore.ProxyError,
)
# "Not given" comes as python-telegram-bot's DefaultValue, whose class is not public API.
_NOT_GIVEN = type(BaseRequest.DEFAULT_NONE)


class JsonRequest(BaseRequest):
    """A :class:`telegram.request.BaseRequest` for ``ApplicationBuilder().request(...)``.

    At most ``pool_size`` connections at once (one per reply being sent); the timeouts are
    python-telegram-bot's defaults, with ``media_write_timeout`` for uploads.
    """

    def __init__(
        self,
        pool_size: int,
        *,
        connect_timeout: float = 5.0,
        read_timeout: float = 5.0,
        write_timeout: float = 5.0,
        pool_timeout: float = 1.0,
        media_write_timeout: float = 20.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._timeout = httpx.Timeout(
            connect=connect_timeout, read=read_timeout, write=write_timeout, pool=pool_timeout
        )
        self._media_write_timeout = media_write_timeout
        self._limits = httpx.Limits(max_connections=pool_size, max_keepalive_connections=pool_size)
        self._transport = transport
        self._client = self._new_client()
        # A test's transport, or a proxy from the environment, needs httpx for every call.
        self._direct = transport is None and not _proxy_configured()
        self._pool = self._new_pool()

    def _new_pool(self) -> httpcore.AsyncConnectionPool:
        return httpcore.AsyncConnectionPool(
            max_connections=self._limits.max_connections,
            max_keepalive_connections=self._limits.max_keepalive_connections,
            network_backend=_Backend(),
        )

    def _new_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            timeout=self._timeout, limits=self._limits, transport=self._transport
        )

    @property
    def read_timeout(self) -> float | None:
        return self._timeout.read

    async def initialize(self) -> None:
        if self._client.is_closed:  # python-telegram-bot may initialise again after a shutdown
            self._client = self._new_client()
            self._pool = self._new_pool()

    async def shutdown(self) -> None:
        if not self._client.is_closed:
            await self._client.aclose()
            await self._pool.aclose()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: object = BaseRequest.DEFAULT_NONE,
        write_timeout: object = BaseRequest.DEFAULT_NONE,
        connect_timeout: object = BaseRequest.DEFAULT_NONE,
        pool_timeout: object = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        uploads = request_data is not None and request_data.contains_files
        default_write = self._media_write_timeout if uploads else self._timeout.write
        timeout = httpx.Timeout(
            connect=_given(connect_timeout, self._timeout.connect),
            read=_given(read_timeout, self._timeout.read),
            write=_given(write_timeout, default_write),
            pool=_given(pool_timeout, self._timeout.pool),
        )
        if self._direct and not uploads:
            parameters = request_data.parameters if request_data is not None else {}
            return await self._post_direct(method, url, json.dumps(parameters), timeout)
        try:
            if request_data is not None and uploads:
                response = await self._client.request(
                    method,
                    url,
                    data=request_data.json_parameters,
                    files=request_data.multipart_data,
                    timeout=timeout,
                )
            else:
                parameters = request_data.parameters if request_data is not None else {}
                response = await self._client.request(
                    method,
                    url,
                    content=json.dumps(parameters).encode("utf-8"),
                    headers=_JSON_HEADERS,
                    timeout=timeout,
                )
        except httpx.HTTPError as error:
            raise _telegram_error(
                error, "httpx", httpx.PoolTimeout, httpx.TimeoutException
            ) from None
        return response.status_code, response.content

    async def _post_direct(
        self, method: str, url: str, body: str, timeout: httpx.Timeout
    ) -> tuple[int, bytes]:
        limits = {
            "connect": timeout.connect,
            "read": timeout.read,
            "write": timeout.write,
            "pool": timeout.pool,
        }
        try:
            response = await self._pool.request(
                method,
                url,
                headers=_JSON_HEADERS,
                content=body.encode("utf-8"),
                extensions={"timeout": limits},
            )
        except (httpcore.TimeoutException, *_NETWORK_ERRORS) as error:
            raise _telegram_error(
                error, "httpcore", httpcore.PoolTimeout, httpcore.TimeoutException
            ) from None
        return response.status, response.content


def _telegram_error(
    error: Exception, library: str, pool_timeout: type[Exception], timeout: type[Exception]
) -> NetworkError:
    """The library's failure as python-telegram-bot's error, naming only its kind (the
    library's message can hold the URL, and with it the token). Raise it ``from None``."""
    if isinstance(error, pool_timeout):
        return TimedOut("Pool timeout: every connection was busy; the call was not sent")
    if isinstance(error, timeout):
        return TimedOut(f"{library}.{type(error).__name__}")
    return NetworkError(f"{library}.{type(error).__name__}")


def _proxy_configured() -> bool:
    return any(scheme in ("http", "https", "all") for scheme in urllib.request.getproxies())


class _Stream(httpcore.AsyncNetworkStream):
    """httpcore's own stream, but "is the socket readable" is one poll of it."""

    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner
        raw = inner.get_extra_info("socket")
        # anyio hands out asyncio's TransportSocket, a socket.socket look-alike.
        fileno = getattr(raw, "fileno", None)
        self._fd = fileno() if callable(fileno) else -1

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return _Stream(await self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable" and self._fd >= 0:
            # Readable while idle means the server closed it (or sent what it should not).
            poll = select.poll()
            poll.register(self._fd, select.POLLIN)
            return bool(poll.poll(0))
        return self._inner.get_extra_info(info)


class _Backend(httpcore.AsyncNetworkBackend):
    def __init__(self) -> None:
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        inner = await self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        return _Stream(inner)

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        return _Stream(await self._inner.connect_unix_socket(path, timeout, socket_options))

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def _given(value: object, default: float | None) -> float | None:
    if isinstance(value, _NOT_GIVEN):
        return default
    return float(value) if isinstance(value, int | float) else None
