"""The S3 sink against moto's S3 server over loopback."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import moto.server as moto_server
import pytest

from publisher.s3 import S3Sink

TOKEN = "tok_" + "a" * 28
FILES = {"index.html": b"<h1>Acme</h1>", "balance.json": b"{}", "log.csv": b"date\n"}


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def sink(endpoint: str, request: pytest.FixtureRequest) -> S3Sink:
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id="test", aws_secret_access_key="test")
    bucket = f"pages-{request.node.name.replace('_', '-')[:40].lower()}"
    client.create_bucket(Bucket=bucket)
    return S3Sink(bucket, prefix="balances", client=client)


def test_write_puts_every_file_with_its_headers_and_reads_back(sink: S3Sink) -> None:
    assert sink.write(TOKEN, FILES) is True
    assert sink.read(TOKEN, "index.html") == b"<h1>Acme</h1>"
    types = {"index.html": "text/html; charset=utf-8", "balance.json": "application/json",
             "log.csv": "text/csv; charset=utf-8"}
    for name, content_type in types.items():
        head = sink.client.head_object(Bucket=sink.bucket, Key=f"balances/c/{TOKEN}/{name}")
        assert (head["ContentType"], head["CacheControl"]) == (content_type, "private, no-store")


def test_unchanged_bytes_are_not_sent_again(sink: S3Sink) -> None:
    sink.write(TOKEN, FILES)
    puts: list[str] = []
    sink.client.meta.events.register("before-call.s3.PutObject", lambda **kw: puts.append("put"))
    assert sink.write(TOKEN, FILES) is False
    assert sink.write(TOKEN, {**FILES, "balance.json": b'{"x": 1}'}) is True
    assert puts == ["put"]


def test_missing_files_read_as_none_and_remove_deletes_the_page(sink: S3Sink) -> None:
    assert sink.read(TOKEN, "log.csv") is None
    sink.write(TOKEN, FILES)
    sink.remove(TOKEN)
    assert all(sink.read(TOKEN, name) is None for name in FILES)


@pytest.mark.parametrize(("token", "name"), [("../../etc", "index.html"), (TOKEN, "secret.txt")])
def test_bad_tokens_and_names_never_reach_the_bucket(sink: S3Sink, token: str, name: str) -> None:
    with pytest.raises(ValueError):
        sink.write(token, {name: b"x"})
