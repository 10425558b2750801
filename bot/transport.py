"""A python-telegram-bot request transport on aiohttp, behind PTB's own BaseRequest.

The benchmark's profile put most of a tap's CPU in httpx/httpcore (about 3 ms per Bot API
call); aiohttp's client is leaner. httpx stays the default; `[telegram] transport =
"aiohttp"` selects this one.
"""

from __future__ import annotations

from typing import cast

import aiohttp
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

USER_AGENT = "Labelgram (python-telegram-bot, aiohttp)"


class AiohttpRequest(BaseRequest):
    """One pooled aiohttp session; form fields as PTB encodes them, files as multipart."""

    __slots__ = ("_connect", "_media_write", "_pool", "_read", "_session", "_write")

    def __init__(
        self,
        *,
        connection_pool_size: int = 64,
        read_timeout: float | None = 5.0,
        write_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        media_write_timeout: float | None = 20.0,
    ) -> None:
        self._pool = connection_pool_size
        self._read = read_timeout
        self._write = write_timeout
        self._connect = connect_timeout
        self._media_write = media_write_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._read

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._pool),
                headers={"User-Agent": USER_AGENT},
            )

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    def _timeout(self, given: object, default: float | None) -> float | None:
        # PTB's documented test for "not passed": `parameter is BaseRequest.DEFAULT_NONE`.
        return default if given is BaseRequest.DEFAULT_NONE else cast("float | None", given)

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
        if self._session is None or self._session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        files = (
            request_data.multipart_data if request_data and request_data.contains_files else None
        )
        write_default = self._media_write if files else self._write
        read = self._timeout(read_timeout, self._read)
        write = self._timeout(write_timeout, write_default)
        timeout = aiohttp.ClientTimeout(
            total=None,
            connect=self._timeout(connect_timeout, self._connect),
            # aiohttp has no separate write timeout: a read waits for the whole upload.
            sock_read=None if read is None else read + (write or 0),
        )
        data: aiohttp.FormData | dict[str, str] | None = None
        if request_data is not None:
            if files:
                form = aiohttp.FormData()
                for name, value in request_data.json_parameters.items():
                    form.add_field(name, value)
                for name, (file_name, content, mime) in files.items():
                    form.add_field(name, content, filename=file_name, content_type=mime)
                data = form
            else:
                data = request_data.json_parameters
        try:
            async with self._session.request(method, url, data=data, timeout=timeout) as resp:
                return resp.status, await resp.read()
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise TimedOut from exc
        except aiohttp.ClientError as exc:
            raise NetworkError(f"aiohttp.{type(exc).__name__}: {exc}") from exc
