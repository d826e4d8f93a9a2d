"""Paginators: how a connector finds the next page, and one loop that walks them safely."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Protocol

import httpx

from connectors.http import Funnel
from syncd.errors import PayloadError


class Paginator(Protocol):
    """Finds the next page's URL in a response, or None on the last page."""

    def next_url(self, body: Any, response: httpx.Response) -> str | None: ...


class BodyLinkPaginator:
    """The next page's URL sits in the JSON body, e.g. Harvest's ``links.next``."""

    def __init__(self, *path: str) -> None:
        self.path = path or ("links", "next")

    def next_url(self, body: Any, response: httpx.Response) -> str | None:
        node = body
        for key in self.path:
            if not isinstance(node, dict):
                return None
            node = node.get(key)
        if node is None:
            return None
        if not isinstance(node, str):
            raise PayloadError(f"next-page link {'.'.join(self.path)} is not a string")
        return node


class LinkHeaderPaginator:
    """The next page's URL is in an RFC 8288 ``Link: <…>; rel="next"`` header."""

    def next_url(self, body: Any, response: httpx.Response) -> str | None:
        return response.links.get("next", {}).get("url")


async def walk_pages(
    http: Funnel,
    url: str,
    *,
    params: dict[str, Any] | None,
    paginator: Paginator,
    items_key: str | None,
    max_pages: int = 100_000,
) -> AsyncIterator[list[dict[str, Any]]]:
    """Yield each page's items, following the paginator until it says there is no more.

    ``items_key`` names the list in a JSON object body; None means the body is the list.

    A page whose items are not a list, an empty page that still links to a next one (the
    vendor lost that page's entries: taking it for the end, or skipping it, would lose them),
    a next link that repeats one already followed (a paging loop) and a runaway number of
    pages are PayloadErrors, so a sync never spins and never passes a gap for complete.
    """
    followed: set[str] = set()
    next_url: str | None = url
    next_params = params
    for _ in range(max_pages):
        body, response = await http.get_json(next_url, params=next_params)
        if items_key is None:
            items = body
        else:
            items = body.get(items_key) if isinstance(body, dict) else None
        if not isinstance(items, list):
            where = "as the response" if items_key is None else f"under {items_key!r} in the response"
            raise PayloadError(f"{http.vendor}: expected a list {where}")
        next_url = paginator.next_url(body, response)
        if not items and next_url is not None:
            raise PayloadError(f"{http.vendor}: an empty page that says more follow")
        yield items
        followed.add(str(response.request.url))
        if next_url is None:
            return
        if str(response.request.url.join(next_url)) in followed:
            raise PayloadError(f"{http.vendor}: paging loop, the next page repeats one already read")
        next_params = None
    raise PayloadError(f"{http.vendor}: more than {max_pages} pages, giving up")
