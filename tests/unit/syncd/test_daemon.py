"""Wiring from settings and config: the publish target, alerts, and shard leases."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from pydantic import ValidationError

from publisher.s3 import S3Sink
from publisher.sinks import DirectorySink
from syncd.config import load_config
from syncd.daemon import coordinator_factory, shard_keeper
from syncd.settings import open_sink
from syncd.errors import ConfigError
from syncd.settings import Settings
from syncd.shards import Shard
from syncd.store import Store

ROOT = Path(__file__).resolve().parents[3]


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


def test_the_daemons_coordinators_alert_as_the_configs_notify_section_says(tmp_path: Path) -> None:
    folder = tmp_path / "config"
    shutil.copytree(ROOT / "tests" / "fixtures" / "config", folder)
    env = {"DEMO_HARVEST_URL": "http://x", "DEMO_HARVEST_ACCOUNT": "1", "DEMO_HARVEST_TOKEN": "t"}
    store = Store.open(f"sqlite:///{tmp_path / 's.db'}")
    make = coordinator_factory(store, DirectorySink(tmp_path / "public"))
    assert make(load_config(folder, environ=env)).alerts is None
    main = folder / "syncd.yaml"
    main.write_text(main.read_text() + "notify:\n  ops: {webhook: 'https://hooks.example/x'}\n")
    alerts = make(load_config(folder, environ=env)).alerts
    assert alerts is not None and set(alerts.notifier.targets) == {"ops"}
    store.close()


def test_shard_leases_are_kept_only_when_a_shard_is_set(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 's.db'}")
    assert shard_keeper(Settings(), store) is None
    keeper = shard_keeper(Settings(shard="1/3", replica_id="pod-b", lease_seconds=12), store)
    assert keeper is not None and (keeper.shard, keeper.holder, keeper.ttl) == (Shard(1, 3), "pod-b", 12)
    store.close()


@pytest.mark.parametrize("shard", ["3/3", "one of two", "0/0"])
def test_a_bad_shard_setting_is_refused_with_the_other_settings(shard: str) -> None:
    with pytest.raises(ValidationError, match="SYNCD_SHARD"):
        Settings(shard=shard)
