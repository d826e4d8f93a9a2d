"""The container and deployment files: parsed and cross-checked (no Docker engine needed)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from syncd.config import load_config
from syncd.rules.testing import rule_test_problems

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def kubernetes() -> dict[str, dict[str, Any]]:
    """Every Kubernetes object under deploy/kubernetes/, by kind."""
    docs: dict[str, dict[str, Any]] = {}
    for path in sorted((DEPLOY / "kubernetes").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") != "Kustomization":
                docs[doc["kind"]] = doc
    return docs


def test_the_dockerfile_is_multi_stage_non_root_with_healthcheck_and_volumes() -> None:
    text = (ROOT / "Dockerfile").read_text()
    stages = re.findall(r"^FROM\s+(\S+)(?:\s+AS\s+(\w+))?", text, re.M)
    assert len(stages) == 2 and stages[0][1] == "build" and stages[1][0].endswith("-slim")
    runtime = text.split("\nFROM ", 2)[2]
    assert re.search(r"^USER\s+10001", runtime, re.M)
    assert re.search(r"^HEALTHCHECK .*\n.*/healthz", runtime, re.M)
    assert 'VOLUME ["/config", "/data"]' in runtime
    assert "gcc" not in runtime and "build-essential" not in runtime


def test_compose_runs_the_daemon_on_postgres_with_secrets_from_an_env_file() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"syncd", "postgres"}
    syncd, postgres = services["syncd"], services["postgres"]
    assert syncd["depends_on"]["postgres"]["condition"] == "service_healthy" and postgres["healthcheck"]
    assert syncd["env_file"] == ["syncd.env"] and (DEPLOY / "syncd.env.example").is_file()
    assert syncd["environment"]["SYNCD_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert "@postgres:5432/" in syncd["environment"]["SYNCD_DATABASE_URL"]
    mounts = {m.split(":")[1] for m in syncd["volumes"]}
    assert mounts == {"/config", "/data"}
    assert syncd["build"]["context"] == ".." and (DEPLOY / syncd["build"]["context"] / "Dockerfile").is_file()
    # No secret value is written into the compose file itself.
    literal_secret = re.compile(r"(?im)^\s*\w*(token|password|secret)\w*\s*:\s*(?!\$\{)\S")
    assert not literal_secret.search((DEPLOY / "compose.yaml").read_text())


def test_the_env_file_example_names_every_variable_the_example_config_refers_to() -> None:
    # Copying config/example into config/live must not leave a ${VAR} the env file never mentions.
    # Optional keys' variables are listed commented out; ${ENV_VAR} and ${VAR} are the
    # example's own words for "a variable".
    referred = {m for path in (ROOT / "config" / "example").rglob("*.yaml")
                for m in re.findall(r"\$\{(\w+)", path.read_text())} - {"ENV_VAR", "VAR"}
    listed = set(re.findall(r"(?m)^#? ?(\w+)=", (DEPLOY / "syncd.env.example").read_text()))
    assert referred and referred <= listed, sorted(referred - listed)


def test_kubernetes_runs_two_probed_replicas_fed_by_the_secret_and_configmap() -> None:
    docs = kubernetes()
    assert set(docs) == {"Deployment", "Service", "Secret", "ConfigMap"}
    deployment = docs["Deployment"]
    assert deployment["spec"]["replicas"] == 2
    pod = deployment["spec"]["template"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    assert docs["Service"]["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    (container,) = pod["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert ports["http"] == int(next(e["value"] for e in container["env"] if e["name"] == "SYNCD_HTTP_PORT"))
    assert docs["Service"]["spec"]["ports"][0]["targetPort"] == "http"
    assert container["envFrom"] == [{"secretRef": {"name": docs["Secret"]["metadata"]["name"]}}]
    assert "SYNCD_DATABASE_URL" in docs["Secret"]["stringData"]
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert volumes[mounts["/config"]]["configMap"]["name"] == docs["ConfigMap"]["metadata"]["name"]
    assert "/data" in mounts


def test_the_configmap_is_a_valid_config_whose_env_references_the_secret_provides(tmp_path: Path) -> None:
    docs = kubernetes()
    items = next(v for v in docs["Deployment"]["spec"]["template"]["spec"]["volumes"] if v["name"] == "config")
    data = docs["ConfigMap"]["data"]
    assert {i["key"] for i in items["configMap"]["items"]} == set(data)
    for item in items["configMap"]["items"]:
        path = tmp_path / item["path"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(data[item["key"]])
    environ = dict(docs["Secret"]["stringData"])
    config = load_config(tmp_path, environ=environ)  # every ${VAR} it names is in the Secret
    assert rule_test_problems(config) == []
    assert config.clients["acme-dental"].cron == "0 7 * * mon,thu" and set(config.notify) == {"ops-webhook", "ops-mail"}
