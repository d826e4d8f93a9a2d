"""How a vendor sandbox delivers a webhook or callback: a POST to a URL, or to an ASGI app in process."""

from __future__ import annotations

from collections.abc import Mapping

import httpx
from starlette.types import ASGIApp


async def deliver(target: str | ASGIApp, body: bytes, headers: Mapping[str, str], *, path: str = "/") -> httpx.Response:
    """POST ``body`` to ``target``: a full URL, or an ASGI app (the daemon's) at ``path``."""
    if isinstance(target, str):
        async with httpx.AsyncClient(timeout=10.0) as http:
            return await http.post(target, content=body, headers=dict(headers))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=target), base_url="http://receiver") as http:
        return await http.post(path, content=body, headers=dict(headers))
