"""The operations parts of the config: refresh cadences and alert targets, each mistake located."""

from __future__ import annotations

from pathlib import Path

import pytest

from syncd.alerts import EmailTarget, WebhookTarget, alert_policy
from syncd.config import load_config
from syncd.errors import ConfigError

from .test_config import GOOD as PLAIN
from .test_config import write

GOOD = {
    **PLAIN,
    "syncd.yaml": PLAIN["syncd.yaml"].replace("{rules: [standard]}", "{rules: [standard], notify: [ops-hook]}") + (
        "notify:\n"
        "  ops-hook: {webhook: '${HOOK_URL}'}\n"
        "  ops-mail:\n"
        "    email: {to: ops@msp.example, from: syncd@msp.example, host: smtp.msp.example,\n"
        "            username: '${SMTP_USER}', password: '${SMTP_PASSWORD}'}\n"
    ),
}
ENV = {"TOKEN": "t", "HOOK_URL": "https://hooks.slack.example/services/T0/B0/secretpart", "SMTP_USER": "syncd",
       "SMTP_PASSWORD": "hunter2-smtp"}


@pytest.mark.parametrize(
    ("line", "refresh", "cron"),
    [
        ("refresh: 5m\n", 300, None),
        ("refresh: '0 7 * * mon,thu'\n", 4 * 86400, "0 7 * * mon,thu"),
        ("refresh: {cron: '0  7 * * 1-5'}\n", 3 * 86400, "0 7 * * 1-5"),
        ("", 900, None),
    ],
)
def test_refresh_is_an_interval_or_a_cron_expression(tmp_path: Path, line: str, refresh: int, cron: str | None) -> None:
    files = {**GOOD, "clients/acme.yaml": GOOD["clients/acme.yaml"] + line}
    acme = load_config(write(tmp_path, files), environ=ENV).clients["acme"]
    assert (acme.refresh, acme.cron) == (refresh, cron)


def test_alert_targets_build_a_policy_with_secrets_kept_out_of_reprs(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD), environ=ENV)
    assert config.clients["acme"].retainer.alerts.notify == ["ops-hook"]  # the defaults' list
    assert "secretpart" not in repr(config.notify) and "hunter2" not in repr(config.notify)
    policy = alert_policy(config)
    assert policy is not None and policy.source_targets == ("ops-hook",) and policy.failing_after == 1800
    hook, mail = policy.notifier.targets["ops-hook"], policy.notifier.targets["ops-mail"]
    assert isinstance(hook, WebhookTarget) and hook.url == ENV["HOOK_URL"]
    assert isinstance(mail, EmailTarget)
    assert (mail.host, mail.port, mail.starttls, mail.recipients, mail.password) == (
        "smtp.msp.example", 587, True, ["ops@msp.example"], "hunter2-smtp")


def test_no_notify_section_means_no_alerts(tmp_path: Path) -> None:
    assert alert_policy(load_config(write(tmp_path, PLAIN), environ=ENV)) is None


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        pytest.param({"clients/acme.yaml": GOOD["clients/acme.yaml"] + "refresh: '61 7 * * *'\n"},
                     "clients/acme.yaml:7: refresh.cron: invalid cron expression '61 7 * * *'", id="bad-cron"),
        pytest.param({"clients/acme.yaml": GOOD["clients/acme.yaml"] + "refresh: {cron: '0 7 * *'}\n"},
                     "clients/acme.yaml:7: refresh.cron: a cron expression has 5 fields", id="short-cron"),
        pytest.param({"clients/acme.yaml": GOOD["clients/acme.yaml"] + "refresh: {cron: '0 7 * * *', every: 5m}\n"},
                     "clients/acme.yaml:7: refresh: give an interval (15m) or {cron:", id="both"),
        pytest.param({"clients/acme.yaml": GOOD["clients/acme.yaml"] + "refresh: weekly\n"},
                     "clients/acme.yaml:7: refresh: expected an interval such as 15m or 1h, or a cron expression",
                     id="neither"),
        pytest.param({"clients/acme.yaml": GOOD["clients/acme.yaml"] + "  alerts: {notify: [ops-hook, pager]}\n"},
                     "clients/acme.yaml:7: retainer.alerts.notify[1]: no alert target named 'pager' in syncd.yaml "
                     "notify: (known: ops-hook, ops-mail)", id="client-unknown-target"),
        pytest.param({"syncd.yaml": GOOD["syncd.yaml"].replace("notify: [ops-hook]", "notify: [ops-hok]")},
                     "syncd.yaml:3: defaults.notify[0]: no alert target named 'ops-hok'", id="defaults-unknown-target"),
        pytest.param({"syncd.yaml": GOOD["syncd.yaml"].replace("'${HOOK_URL}'", "hooks.example/x")},
                     "syncd.yaml:5: notify.ops-hook.webhook: a webhook must be an http:// or https:// URL",
                     id="webhook-not-a-url"),
        pytest.param({"syncd.yaml": GOOD["syncd.yaml"].replace("{webhook: '${HOOK_URL}'}", "{}")},
                     "syncd.yaml:5: notify.ops-hook: give either webhook or email", id="target-without-kind"),
        pytest.param({"syncd.yaml": GOOD["syncd.yaml"].replace("host: smtp.msp.example,", "")},
                     "syncd.yaml:7: notify.ops-mail.email.host: Field required", id="email-without-host"),
    ],
)
def test_each_operations_mistake_is_named_with_file_line_and_field(
    tmp_path: Path, files: dict[str, str], expected: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, {**GOOD, **files}), environ=ENV)
    messages = [str(p).replace(str(tmp_path) + "/", "") for p in caught.value.problems]
    assert any(m.startswith(expected) for m in messages), messages
    assert not any("secretpart" in m or "hunter2" in m for m in messages)
