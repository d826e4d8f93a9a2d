"""The built-in page server: files by token, the same 404 for everything unknown, headers everywhere."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from syncd.web import SECURITY_HEADERS, create_app

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
