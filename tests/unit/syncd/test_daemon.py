"""Choosing the publish target from settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from publisher.s3 import S3Sink
from publisher.sinks import DirectorySink
from syncd.daemon import open_sink
from syncd.errors import ConfigError
from syncd.settings import Settings


def test_the_default_target_is_the_publish_folder(tmp_path: Path) -> None:
    sink = open_sink(Settings(publish_dir=tmp_path))
    assert isinstance(sink, DirectorySink) and sink.root == tmp_path


def test_an_s3_target_needs_a_bucket() -> None:
    with pytest.raises(ConfigError, match="SYNCD_S3_BUCKET"):
        open_sink(Settings(publish_target="s3"))


def test_an_s3_target_uses_the_bucket_prefix_and_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    sink = open_sink(Settings(publish_target="s3", s3_bucket="pages", s3_prefix="/balances/",
                              s3_endpoint_url="http://127.0.0.1:9000", s3_region="eu-west-1"))
    assert isinstance(sink, S3Sink)
    assert (sink.bucket, sink.prefix) == ("pages", "balances/")
    assert sink.client.meta.endpoint_url == "http://127.0.0.1:9000"
    assert sink.key("tok_" + "a" * 28, "index.html") == "balances/c/tok_" + "a" * 28 + "/index.html"
