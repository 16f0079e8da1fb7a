"""What the one local stack hands each replica: ports, consumer groups, overrides, names."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.local.stack import CONSUMERS, DEFAULT_PORTS, Stack, StackConfig, label_of

pytestmark = pytest.mark.unit


def _stack(tmp_path: Path, **options: object) -> Stack:
    return Stack(StackConfig(tmp_path, kafka_bootstrap="kafka:9092", **options))


def test_a_group_suffix_gives_every_consumer_its_own_group(tmp_path: Path) -> None:
    one = _stack(tmp_path, group_suffix="a1")
    other = _stack(tmp_path, group_suffix="b2")
    for name in CONSUMERS:
        variable = f"SLUICE_{name.upper()}_GROUP"
        assert one.service_env(name)[variable] == f"sluice-{name}-a1"
        assert one.service_env("ingest")[variable] != other.service_env("ingest")[variable]


def test_without_a_suffix_the_services_keep_their_default_groups(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in CONSUMERS:
        monkeypatch.delenv(f"SLUICE_{name.upper()}_GROUP", raising=False)
    env = _stack(tmp_path).service_env("parser")
    assert not {f"SLUICE_{name.upper()}_GROUP" for name in CONSUMERS} & set(env)


def test_each_replica_has_its_own_port_and_name(tmp_path: Path) -> None:
    stack = _stack(tmp_path, group_suffix="x")
    first = stack.service_env("embedder")
    second = stack.service_env("embedder", index=2, port=41234)
    assert first["SLUICE_EMBEDDER_PORT"] == str(DEFAULT_PORTS["embedder"])
    assert second["SLUICE_EMBEDDER_PORT"] == "41234"
    assert first["SLUICE_INSTANCE_ID"] != second["SLUICE_INSTANCE_ID"]
    assert second["SLUICE_STATUS_PORT"] == str(DEFAULT_PORTS["status"]), "others' ports stay"
    assert [label_of("embedder", i) for i in (1, 2, 3)] == ["embedder", "embedder-2", "embedder-3"]


def test_overrides_and_existing_infrastructure_reach_every_service(tmp_path: Path) -> None:
    stack = _stack(
        tmp_path,
        database_url="postgresql://u@db:5432/sluice",
        database="mine",
        env={"SLUICE_EMBEDDING_PROVIDER": "hashing", "SLUICE_JWT_SECRET": "s" * 40},
    )
    env = stack.service_env("status")
    assert env["SLUICE_KAFKA_BOOTSTRAP"] == "kafka:9092"
    assert env["SLUICE_DATABASE_URL"] == "postgresql://u@db:5432/mine"
    assert env["SLUICE_EMBEDDING_PROVIDER"] == "hashing"
    assert stack.jwt_secret == "s" * 40


def test_from_env_reads_the_developer_overrides(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLUICE_RUN_DIR", str(tmp_path))
    monkeypatch.setenv("SLUICE_PARSER_PORT", "9102")
    monkeypatch.setenv("SLUICE_KAFKA_PORT", "19092")
    monkeypatch.delenv("SLUICE_KAFKA_BOOTSTRAP", raising=False)
    monkeypatch.delenv("SLUICE_DATABASE_URL", raising=False)
    config = StackConfig.from_env()
    assert config.run_dir == tmp_path.resolve()
    assert config.ports["parser"] == 9102 and config.ports["ingest"] == DEFAULT_PORTS["ingest"]
    assert (config.kafka_port, config.kafka_controller_port) == (19092, 19093)
    assert config.kafka_bootstrap is None and config.database_url is None
    assert Stack(config).bootstrap == "127.0.0.1:19092"


def test_no_replica_runs_in_an_empty_run_dir(tmp_path: Path) -> None:
    stack = _stack(tmp_path)
    (tmp_path / "parser-2.pid").write_text("999999999\n40000\n")  # stale: no such process
    assert stack.replicas() == []


def test_a_running_stack_is_found_again_by_later_commands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = StackConfig.on_free_ports(
        tmp_path,
        kafka_bootstrap="127.0.0.1:1234",
        env={"SLUICE_JWT_SECRET": "s" * 40, "SLUICE_EMBEDDING_PROVIDER": "hashing"},
        group_suffix="abc",
    )
    config.save()
    assert oct((tmp_path / "stack.json").stat().st_mode & 0o777) == "0o600"  # holds the secret
    monkeypatch.setenv("SLUICE_RUN_DIR", str(tmp_path))
    monkeypatch.setenv("SLUICE_INGEST_PORT", "1")  # the running stack wins over the variables
    found = StackConfig.from_env(replicas={"embedder": 3})
    assert (found.ports, found.env, found.group_suffix) == (
        config.ports,
        config.env,
        config.group_suffix,
    )
    assert found.kafka_bootstrap == "127.0.0.1:1234" and found.replicas == {"embedder": 3}
    assert Stack(found).service_env("status")["SLUICE_STATUS_GROUP"] == "sluice-status-abc"
    (tmp_path / "stack.json").unlink()  # what `down` does: the variables count again
    assert StackConfig.from_env().ports["ingest"] == 1
