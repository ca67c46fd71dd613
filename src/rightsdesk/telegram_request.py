"""How the bot's calls reach Telegram: HTTP with httpx, the body written as JSON.

python-telegram-bot's own ``HTTPXRequest`` posts every call as a form, so each reply is
percent-encoded by ``urllib`` one byte at a time in Python: for a reply of a few thousand
characters in Thai or Burmese (three bytes a letter) that was the largest single cost of
sending it, about a tenth of all the bot's own CPU time a question. Telegram reads JSON bodies
(``application/json``) as well as forms, and the standard library writes JSON in C. Calls that
upload a file (the fact sheet PDFs) still go as multipart forms, which is the only way Telegram
takes files.

Errors say what kind of failure it was and nothing else: httpx messages can hold the URL, and
the URL holds the bot token.
"""

from __future__ import annotations

import json

import httpx
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

_JSON = {"Content-Type": "application/json"}
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

    async def shutdown(self) -> None:
        if not self._client.is_closed:
            await self._client.aclose()

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
                    headers=_JSON,
                    timeout=timeout,
                )
        except httpx.PoolTimeout:
            raise TimedOut(
                "Pool timeout: every connection was busy; the call was not sent"
            ) from None
        except httpx.TimeoutException as error:
            raise TimedOut(f"httpx.{type(error).__name__}") from None
        except httpx.HTTPError as error:
            raise NetworkError(f"httpx.{type(error).__name__}") from None
        return response.status_code, response.content


def _given(value: object, default: float | None) -> float | None:
    if isinstance(value, _NOT_GIVEN):
        return default
    return float(value) if isinstance(value, int | float) else None
