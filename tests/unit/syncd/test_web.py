"""The built-in page server: files by token, the same 404 for everything unknown, headers everywhere."""

from __future__ import annotations

import contextlib
import os
import secrets
import sys
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import pytest

from publisher.sinks import DirectorySink, is_token
from syncd.links import revoke_link, rotate_link
from syncd.push import Answer
from syncd.store import Store, new_token
from syncd.web import MAX_PUSH_BODY, SECURITY_HEADERS, MissLimiter, client_key, create_app

TOKEN = "A" * 10 + "b_-" + "c" * 19


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "c" / TOKEN
    folder.mkdir(parents=True)
    (folder / "index.html").write_text("<h1>Acme</h1>")
    (folder / "balance.json").write_text('{"schema": "syncd.balance/1"}')
    (folder / "log.csv").write_text("date\n")
    (tmp_path / "secret.txt").write_text("outside the page folders")
    return tmp_path


def client(root: Path, **kwargs: object) -> httpx.AsyncClient:
    app = create_app(root, **kwargs)  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=("203.0.113.9", 1234)),
                             base_url="http://pages.test")


@pytest.mark.parametrize(
    ("path", "status", "content_type"),
    [
        (f"/c/{TOKEN}/", 200, "text/html; charset=utf-8"),
        (f"/c/{TOKEN}/balance.json", 200, "application/json"),
        (f"/c/{TOKEN}/log.csv", 200, "text/csv; charset=utf-8"),
        (f"/c/{TOKEN}", 308, None),
        ("/healthz", 200, None),
        ("/readyz", 200, None),
        ("/", 404, None),
        ("/c/", 404, None),
        (f"/c/{TOKEN}/secret.txt", 404, None),
        (f"/c/{TOKEN}/../../secret.txt", 404, None),
        (f"/c/{TOKEN}/%2e%2e/%2e%2e/secret.txt", 404, None),
        ("/c/..%2f..%2fsecret.txt/index.html", 404, None),
        ("/c/" + "Z" * 43 + "/", 404, None),
        ("/c/short/", 404, None),
        ("/c/" + "x" * 5000 + "/", 404, None),
        ("/metrics", 404, None),
    ],
)
async def test_routes_answer_as_expected_and_every_response_carries_the_security_headers(
    root: Path, path: str, status: int, content_type: str | None
) -> None:
    async with client(root) as http:
        response = await http.get(path)
    assert response.status_code == status
    if content_type:
        assert response.headers["content-type"] == content_type
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value
    assert b"outside the page folders" not in response.content


async def test_unknown_revoked_and_malformed_tokens_get_the_same_answer(root: Path) -> None:
    async with client(root) as http:
        answers = {(r.status_code, r.content) for r in [
            await http.get("/c/" + "Z" * 43 + "/"),
            await http.get("/c/short/"),
            await http.get(f"/c/{TOKEN}/nothing.html"),
        ]}
    assert len(answers) == 1


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
async def test_odd_methods_change_nothing_and_still_carry_headers(root: Path, method: str) -> None:
    async with client(root) as http:
        response = await http.request(method, f"/c/{TOKEN}/")
    assert response.status_code == 405
    assert response.headers["cache-control"] == "private, no-store"
    assert (root / "c" / TOKEN / "index.html").read_text() == "<h1>Acme</h1>"


async def test_readyz_reports_not_ready_and_its_reason() -> None:
    async with client(Path("/nonexistent"), readiness=lambda: (False, "store unreachable")) as http:
        response = await http.get("/readyz")
    assert response.status_code == 503
    assert response.text == "store unreachable\n"


async def test_metrics_need_the_token_when_one_is_set(root: Path) -> None:
    async with client(root, metrics_token="m3trics") as http:
        assert (await http.get("/metrics")).status_code == 404
        assert (await http.get("/metrics", headers={"Authorization": "Bearer wrong"})).status_code == 404
        ok = await http.get("/metrics", headers={"Authorization": "Bearer m3trics"})
    assert ok.status_code == 200
    assert b"python_info" in ok.content or b"syncd_" in ok.content


async def test_metrics_answer_loopback_callers_without_a_token(root: Path) -> None:
    app = create_app(root)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 5555))
    async with httpx.AsyncClient(transport=transport, base_url="http://pages.test") as http:
        assert (await http.get("/metrics")).status_code == 200


async def test_an_address_that_misses_too_often_is_refused_even_for_a_real_token(root: Path) -> None:
    from syncd.web import MissLimiter

    now = [0.0]
    limiter = MissLimiter(limit=3, window=60, clock=lambda: now[0])
    async with client(root, limiter=limiter) as http:
        for _ in range(3):
            assert (await http.get("/c/" + "Z" * 43 + "/")).status_code == 404
        refused = await http.get(f"/c/{TOKEN}/")
        assert refused.status_code == 429 and refused.headers["retry-after"] == "60"
        assert refused.headers["referrer-policy"] == "no-referrer"
        now[0] = 61.0
        assert (await http.get(f"/c/{TOKEN}/")).status_code == 200


async def test_hits_do_not_count_towards_the_limit(root: Path) -> None:
    from syncd.web import MissLimiter

    async with client(root, limiter=MissLimiter(limit=2, window=60)) as http:
        for _ in range(10):
            assert (await http.get(f"/c/{TOKEN}/")).status_code == 200


def test_the_limiter_forgets_the_quietest_addresses_past_its_size() -> None:
    from syncd.web import MissLimiter

    limiter = MissLimiter(limit=1, window=60, clock=lambda: 0.0, max_addresses=2)
    for address in ("a", "b", "c"):
        limiter.miss(address)
    assert limiter.retry_after("a") is None
    assert limiter.retry_after("c") == 60


# --- attacks --------------------------------------------------------------------------------

_TRACE: list[tuple[str, str]] | None = None
_TRACED_EVENTS = frozenset({"open", "os.listdir", "os.scandir", "os.rename", "os.remove", "os.rmdir", "os.mkdir",
                            "os.chmod", "os.truncate", "os.link", "os.symlink", "shutil.rmtree"})
_HOOKED = False


def _audit(event: str, args: tuple[object, ...]) -> None:
    trace = _TRACE
    if trace is not None and event in _TRACED_EVENTS and args and isinstance(args[0], (str, bytes, os.PathLike)):
        trace.append((event, os.fsdecode(args[0])))


@pytest.fixture
def fs_trace(monkeypatch: pytest.MonkeyPatch) -> Callable[[], AbstractContextManager[list[tuple[str, str]]]]:
    """``with fs_trace() as ops:`` records every file the process opens, lists, changes or stats
    (the interpreter's audit events, plus os.stat and os.lstat, which raise none)."""
    global _HOOKED
    if not _HOOKED:
        sys.addaudithook(_audit)  # hooks cannot be removed; it records only inside the block
        _HOOKED = True
    for name in ("stat", "lstat"):
        real = getattr(os, name)

        def traced(path: Any, *args: Any, _real: Any = real, _name: str = name, **kwargs: Any) -> Any:
            if _TRACE is not None and isinstance(path, (str, bytes, os.PathLike)):
                _TRACE.append((_name, os.fsdecode(path)))
            return _real(path, *args, **kwargs)

        monkeypatch.setattr(os, name, traced)

    @contextmanager
    def recording() -> Iterator[list[tuple[str, str]]]:
        global _TRACE
        ops: list[tuple[str, str]] = []
        _TRACE = ops
        try:
            yield ops
        finally:
            _TRACE = None

    return recording


async def asgi(app: Any, method: str, target: bytes, *, headers: list[tuple[bytes, bytes]] | None = None,
               body: bytes = b"", address: str = "203.0.113.9") -> tuple[int, dict[str, str], bytes]:
    """One request as uvicorn hands it to the app: the raw target as sent (no client-side
    normalising of dot segments or escapes, which httpx would do), the path percent-decoded."""
    raw_path, _, query = target.partition(b"?")
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
             "scheme": "http", "path": unquote(raw_path.decode("latin-1")), "raw_path": raw_path,
             "query_string": query, "root_path": "", "headers": [(b"host", b"pages.test"), *(headers or [])],
             "client": (address, 1234), "server": ("pages.test", 80)}
    sent: list[dict[str, Any]] = []
    delivered = False

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if delivered:
            return {"type": "http.disconnect"}
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    answer = {k.decode().lower(): v.decode() for k, v in start["headers"]}
    return start["status"], answer, b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


def assert_security_headers(headers: Mapping[str, str]) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert headers.get(name) == value, name


@dataclass
class Links:
    """A publish root with real pages under real tokens: one live, one rotated away, one revoked."""

    root: Path
    live: str
    rotated: str
    revoked: str
    unknown: str


@pytest.fixture
def links(tmp_path: Path, sqlite_store: Store) -> Links:
    root = (tmp_path / "public").resolve()
    sink = DirectorySink(root)
    page = {"index.html": b"<h1>page</h1>", "balance.json": b"{}", "log.csv": b"date\r\n"}
    tokens = {}
    for client in ("acme", "birch", "cobalt"):
        tokens[client] = sqlite_store.token_for(client, now=NOW)
        sink.write(tokens[client], page)
    rotate_link(sqlite_store, sink, "birch", now=NOW)
    revoke_link(sqlite_store, sink, "cobalt", now=NOW)
    (tmp_path / "secret.txt").write_text("outside the publish root")
    return Links(root, tokens["acme"], tokens["birch"], tokens["cobalt"], new_token())


NOW = datetime(2026, 11, 18, 15, 0, tzinfo=timezone.utc)
PAGE_PATHS = ("/c/{t}/", "/c/{t}/balance.json", "/c/{t}/log.csv", "/c/{t}")


async def test_unknown_revoked_and_rotated_tokens_take_one_code_path_and_get_one_answer(
    links: Links, fs_trace: Callable[[], AbstractContextManager[list[tuple[str, str]]]]
) -> None:
    app = create_app(links.root, limiter=MissLimiter(limit=1000))
    await asgi(app, "GET", f"/c/{links.live}/".encode())  # warm up: lazy imports open files too

    async def profile(token: str) -> list[object]:
        seen: list[object] = []
        for template in PAGE_PATHS:
            with fs_trace() as ops:
                status, headers, body = await asgi(app, "GET", template.format(t=token).encode())
            # The token is the only thing allowed to differ: what was touched, and the answer.
            seen.append(([(op, path.replace(token, "<token>")) for op, path in ops], status,
                         {k: v for k, v in headers.items() if k != "date"}, body))
        return seen

    unknown, rotated, revoked = [await profile(t) for t in (links.unknown, links.rotated, links.revoked)]
    assert unknown == rotated == revoked
    assert [status for _, status, _, _ in unknown] == [404, 404, 404, 404]
    # Each miss is one lookup inside the token's own folder, the same whichever kind of miss.
    for ops, *_ in unknown:
        assert len(ops) == 1 and ops[0][1].startswith(str(links.root / "c" / "<token>"))
    assert [s for _, s, _, _ in await profile(links.live)] == [200, 200, 200, 308]  # the rig serves real pages


def test_link_tokens_have_at_least_128_bits_from_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[int] = []
    real = secrets.token_urlsafe

    def spy(nbytes: int | None = None) -> str:
        asked.append(nbytes or 32)
        return real(nbytes)

    monkeypatch.setattr(secrets, "token_urlsafe", spy)
    tokens = {new_token() for _ in range(1000)}
    assert asked and min(asked) * 8 >= 128
    assert len(tokens) == 1000 and all(is_token(t) and len(t) * 6 >= 128 for t in tokens)


TRAVERSALS = [
    b"/c/{t}/../../secret.txt",
    b"/c/{t}/..%2f..%2fsecret.txt",
    b"/c/{t}/%2e%2e/%2e%2e/secret.txt",
    b"/c/%2e%2e/%2e%2e/secret.txt",
    b"/c/..%2f..%2fsecret.txt/index.html",
    b"/c/%252e%252e%252fsecret.txt/index.html",  # double encoded
    b"/c/%c0%ae%c0%ae/%c0%ae%c0%ae/secret.txt",  # overlong UTF-8 dots
    b"/c/..\\..\\secret.txt/index.html",
    b"/c/{t}/..%5c..%5csecret.txt",
    b"/c/{t}%00/index.html",
    b"/c/{t}/index.html%00.txt",
    b"/c/{t}%0a/",  # a token and a newline: not a token
    b"/c/{t}/%2fetc%2fpasswd",
    b"/etc/passwd",
    b"//etc/passwd",
    b"/c//etc/passwd",
    b"/c/{t}/.",
    b"/c/{t}/index.html/..",
    b"/c/{t}/../{t}/index.html",
    b"/secret.txt",
    b"/c/" + b"A" * 100_000 + b"/",
    b"/c/{t}/" + b"x" * 100_000,
    b"/" + b"../" * 30_000 + b"secret.txt",
]


@pytest.mark.parametrize("target", TRAVERSALS, ids=lambda t: t[:60].decode("latin-1"))
async def test_traversal_and_odd_paths_get_a_plain_404_without_touching_the_file_system(
    links: Links, fs_trace: Callable[[], AbstractContextManager[list[tuple[str, str]]]], target: bytes
) -> None:
    app = create_app(links.root, limiter=MissLimiter(limit=1000))
    await asgi(app, "GET", f"/c/{links.live}/".encode())
    with fs_trace() as ops:
        status, headers, body = await asgi(app, "GET", target.replace(b"{t}", links.live.encode()))
    assert (status, body) == (404, b"Not found\n")
    assert_security_headers(headers)
    # None of these names a page, so none gets as far as the file system at all.
    assert ops == []


ODD_METHODS = ["PUT", "DELETE", "PATCH", "POST", "TRACE", "OPTIONS", "PROPFIND", "MKCOL", "COPY", "MOVE", "LOCK"]


@pytest.mark.parametrize("method", ODD_METHODS)
@pytest.mark.parametrize("template", [*PAGE_PATHS, "/healthz", "/readyz", "/metrics"])
async def test_odd_methods_are_refused_with_every_header_and_touch_no_file(
    links: Links, fs_trace: Callable[[], AbstractContextManager[list[tuple[str, str]]]], method: str, template: str
) -> None:
    app = create_app(links.root)
    await asgi(app, "GET", f"/c/{links.live}/".encode())
    before = {p: p.read_bytes() for p in links.root.rglob("*") if p.is_file()}
    with fs_trace() as ops:
        status, headers, _ = await asgi(app, method, template.format(t=links.live).encode(), body=b"<h1>owned</h1>")
    assert status == 405
    assert_security_headers(headers)
    assert ops == []
    assert {p: p.read_bytes() for p in links.root.rglob("*") if p.is_file()} == before


class StubReceiver:
    """A push receiver that answers each vendor with a fixed status and counts what reached it."""

    def __init__(self, status: int) -> None:
        self.status = status
        self.calls = 0

    async def toggl(self, account: str, body: bytes, headers: Mapping[str, str]) -> Answer:
        self.calls += 1
        return Answer(self.status)

    halopsa = toggl

    async def connectwise(self, account: str, key: str, body: bytes) -> Answer:
        self.calls += 1
        return Answer(self.status)


def _broken() -> tuple[bool, str]:
    raise RuntimeError("readiness check failed")


def _lenient_app(app: Any) -> Any:
    """The app as a server runs it: an exception after the 500 was sent stays in the server."""

    async def run(scope: Any, receive: Any, send: Any) -> None:
        with contextlib.suppress(RuntimeError):
            await app(scope, receive, send)

    return run


@pytest.mark.parametrize(
    ("method", "target", "kwargs", "status"),
    [
        ("GET", "/c/{t}/", {}, 200),
        ("HEAD", "/c/{t}/", {}, 200),
        ("GET", "/c/{t}/log.csv", {}, 200),
        ("HEAD", "/c/{t}/balance.json", {}, 200),
        ("GET", "/c/{t}", {}, 308),
        ("HEAD", "/c/{t}", {}, 308),
        ("GET", "/c/{u}/", {}, 404),
        ("HEAD", "/c/{u}/", {}, 404),
        ("GET", "/nothing/here", {}, 404),
        ("DELETE", "/c/{t}/", {}, 405),
        ("GET", "/healthz", {}, 200),
        ("HEAD", "/healthz", {}, 200),
        ("GET", "/readyz", {}, 200),
        ("GET", "/readyz", {"readiness": lambda: (False, "store unreachable")}, 503),
        ("GET", "/readyz", {"readiness": _broken}, 500),
        ("GET", "/metrics", {}, 404),
        ("GET", "/metrics", {"address": "127.0.0.1"}, 200),
        ("GET", "/metrics", {"metrics_token": "m3trics", "auth": "Bearer m3trics"}, 200),
        ("GET", "/metrics", {"metrics_token": "m3trics", "auth": "Bearer wrong"}, 404),
        ("POST", "/webhooks/toggl/tracker", {"push": 200}, 200),
        ("POST", "/webhooks/toggl/tracker", {"push": 401}, 401),
        ("POST", "/webhooks/connectwise/cw/key", {"push": 200}, 200),
        ("POST", "/webhooks/halopsa/halo", {"push": 401}, 401),
        ("POST", "/webhooks/nobody/tracker", {"push": 200}, 404),
        ("POST", "/webhooks/toggl/tracker", {"push": 200, "body": b"x" * (MAX_PUSH_BODY + 1)}, 413),
        ("GET", "/webhooks/toggl/tracker", {"push": 200}, 405),
    ],
)
async def test_every_route_and_every_status_carries_the_security_headers(
    links: Links, method: str, target: str, kwargs: dict[str, Any], status: int
) -> None:
    options = dict(kwargs)
    address = options.pop("address", "203.0.113.9")
    auth = options.pop("auth", None)
    body = options.pop("body", b"{}")
    push = StubReceiver(options.pop("push")) if "push" in options else None
    app = _lenient_app(create_app(links.root, push=push, **options))  # type: ignore[arg-type]
    headers = [(b"authorization", auth.encode())] if auth else []
    headers.append((b"content-length", str(len(body)).encode()))
    got, answer, content = await asgi(app, method, target.format(t=links.live, u=links.unknown).encode(),
                                      headers=headers, body=body, address=address)
    assert got == status
    assert_security_headers(answer)
    if status == 500:
        assert b"readiness check failed" not in content  # no error detail goes out


async def test_the_429_carries_the_security_headers_and_limits_only_the_address_that_missed(links: Links) -> None:
    app = create_app(links.root, limiter=MissLimiter(limit=3, window=60))
    for target in (f"/c/{links.unknown}/", f"/c/{links.revoked}/log.csv", f"/c/{links.rotated}"):
        assert (await asgi(app, "GET", target.encode(), address="198.51.100.7"))[0] == 404
    status, headers, _ = await asgi(app, "GET", f"/c/{links.live}/".encode(), address="198.51.100.7")
    assert status == 429 and headers["retry-after"] == "60"
    assert_security_headers(headers)
    assert (await asgi(app, "GET", f"/c/{links.live}/".encode(), address="198.51.100.8"))[0] == 200


async def test_a_chunked_push_body_past_the_limit_is_refused_before_the_receiver_sees_it(links: Links) -> None:
    push = StubReceiver(200)
    app = create_app(links.root, push=push)  # type: ignore[arg-type]
    chunks = [b"x" * 65_536] * 5  # 320 KiB in all, no Content-Length
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://pages.test") as http:
        async def stream() -> AsyncIterator[bytes]:
            for chunk in chunks:
                yield chunk

        chunked = await http.post("/webhooks/toggl/tracker", content=stream())
        lying = await http.post("/webhooks/toggl/tracker", content=b"x" * 300_000,
                                headers={"content-length": "12"})
        absurd = await http.post("/webhooks/toggl/tracker", content=b"{}", headers={"content-length": "²".encode("latin-1")})
    assert [chunked.status_code, lying.status_code, absurd.status_code] == [413, 413, 413]
    assert "content-length" not in chunked.request.headers
    assert push.calls == 0
    for response in (chunked, lying, absurd):
        assert_security_headers(response.headers)


@pytest.mark.parametrize(
    ("host", "key"),
    [
        ("203.0.113.9", "203.0.113.9"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
        ("2001:db8:1:3::1", "2001:db8:1:3::/64"),
        ("::ffff:198.51.100.7", "198.51.100.7"),
        ("unknown", "unknown"),
    ],
)
def test_misses_are_counted_per_ipv4_address_and_per_ipv6_64(host: str, key: str) -> None:
    assert client_key(host) == key


async def test_a_guesser_cannot_escape_the_limit_by_hopping_addresses_inside_its_ipv6_64(links: Links) -> None:
    app = create_app(links.root, limiter=MissLimiter(limit=3, window=60))
    for i in range(3):
        assert (await asgi(app, "GET", f"/c/{new_token()}/".encode(), address=f"2001:db8:7:7::{i + 1}"))[0] == 404
    assert (await asgi(app, "GET", f"/c/{links.live}/".encode(), address="2001:db8:7:7::99"))[0] == 429
    assert (await asgi(app, "GET", f"/c/{links.live}/".encode(), address="2001:db8:7:8::1"))[0] == 200
