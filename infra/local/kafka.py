"""A single-node Kafka (KRaft, broker+controller) run from Maven Central jars, no tarball."""

import asyncio
import base64
import concurrent.futures
import functools
import os
import re
import shutil
import signal
import subprocess
import uuid
from pathlib import Path

from aiokafka import AIOKafkaClient
from aiokafka.errors import KafkaError

from infra.local import REPO_ROOT, process
from infra.local.ports import port_open
from infra.local.server import LocalServer

KAFKA_DIR = REPO_ROOT / "infra" / "kafka"
LOG4J2_CONFIG = KAFKA_DIR / "log4j2.properties"
READY_LINE = "Kafka Server started"
JVM_OPTS: tuple[str, ...] = ("-Xms256m", "-Xmx512m", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20")
JVM_OPTS += ("-XX:+ExplicitGCInvokesConcurrent", "-Djava.awt.headless=true")
# The local broker is young (each stack, test module and benchmark starts one) and its load is
# small: the JIT's optimising compiler (C2) was a third of its CPU while a benchmark ran on 2
# cores. C1 only halved the broker's CPU over 3 x 100 documents (2.2/1.4/1.7 against 8.5/3.4/2.9
# CPU-s) without lowering its produce or consume ceiling (docs/benchmarks.md).
JVM_OPTS += ("-XX:TieredStopAtLevel=1",)


@functools.cache
def find_java() -> str:
    """The `java` to run: $JAVA_HOME/bin/java, else the one on PATH; must be Java 17 or newer."""
    home = os.environ.get("JAVA_HOME")
    java = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if not java or not Path(java).exists():
        raise RuntimeError("java not found: install a JDK 17+ (apt-get install openjdk-17-jre)")
    out = subprocess.run([java, "-version"], capture_output=True, text=True, check=False).stderr
    found = re.search(r'version "(\d+)', out)
    if not found or int(found.group(1)) < 17:
        raise RuntimeError(f"Kafka 4 needs Java 17 or newer; {java} says: {out.strip()}")
    return java


def _pom_versions(pom: Path) -> dict[str, str]:
    text = pom.read_text()
    return {k: v for k, v in re.findall(r"<(kafka|log4j)\.version>([^<]+)<", text)}


def ensure_kafka_jars(repo_root: Path = REPO_ROOT) -> Path:
    """Resolve the broker jars into infra/kafka/target/libs once (Maven), and return that folder."""
    pom = repo_root / "infra" / "kafka" / "pom.xml"
    libs = pom.parent / "target" / "libs"
    versions = _pom_versions(pom)
    kafka, log4j = versions.get("kafka", "?"), versions.get("log4j", "?")
    needed = [f"kafka_2.13-{kafka}.jar", f"kafka-server-{kafka}.jar", f"kafka-tools-{kafka}.jar"]
    needed += [f"log4j-core-{log4j}.jar", f"log4j-slf4j-impl-{log4j}.jar"]
    if all((libs / name).is_file() for name in needed):
        return libs
    mvn = shutil.which("mvn")
    if mvn is None:
        raise RuntimeError("mvn not found: install Maven (apt-get install maven) for Kafka jars")
    cmd = [mvn, "-q", "-B", "-f", str(pom), "dependency:copy-dependencies"]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    missing = [name for name in needed if not (libs / name).is_file()]
    if result.returncode != 0 or missing:
        raise RuntimeError(
            f"{' '.join(cmd)} failed (rc={result.returncode}, missing {missing}):\n"
            f"{result.stdout[-2000:]}{result.stderr[-2000:]}"
        )
    return libs


def new_cluster_id() -> str:
    """A Kafka cluster id, as `kafka-storage random-uuid` prints it (base64url of 16 bytes)."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text


async def _metadata_ok(bootstrap: str) -> bool:
    client = AIOKafkaClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    try:
        await client.bootstrap()
        metadata = await client.fetch_all_metadata()
        return bool(metadata.brokers())
    except (KafkaError, OSError):
        return False
    finally:
        await client.close()


def metadata_ok(bootstrap: str) -> bool:
    """Say whether the cluster at `bootstrap` answers a metadata request with a live broker."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:  # never touch the caller's loop
        return pool.submit(asyncio.run, _metadata_ok(bootstrap)).result()


class KafkaRunner(LocalServer):
    """One combined broker+controller on 127.0.0.1, its data and config under `data_dir`."""

    name = "Kafka"
    marker = "kafka.Kafka"
    stop_signal = signal.SIGTERM  # a clean shutdown: the broker flushes and leaves

    def __init__(
        self,
        data_dir: Path,
        port: int,
        controller_port: int,
        log_file: Path,
        *,
        libs_dir: Path | None = None,
    ) -> None:
        super().__init__(data_dir, log_file)
        self.port = port
        self.controller_port = controller_port
        self._libs_dir = libs_dir
        self._log_offset = 0

    @property
    def bootstrap(self) -> str:
        """The bootstrap servers string clients use."""
        return f"127.0.0.1:{self.port}"

    @property
    def config_file(self) -> Path:
        """The generated server.properties."""
        return self.data_dir / "server.properties"

    @property
    def pid_file(self) -> Path:
        """Where the broker's pid is kept, so a later runner can stop a detached broker."""
        return self.data_dir / "kafka.pid"

    def properties(self) -> dict[str, str]:
        """The broker configuration."""
        listeners = (
            f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}"
        )
        return {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{self.controller_port}",
            "listeners": listeners,
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": str(self.data_dir / "logs"),
            "num.partitions": "12",
            "default.replication.factor": "1",
            "auto.create.topics.enable": "false",
            "log.retention.hours": "168",
            "group.initial.rebalance.delay.ms": "0",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "12",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "4",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "broker.session.timeout.ms": "4000",
            "broker.heartbeat.interval.ms": "1000",
            # the controller appends a no-op record this often to show it is alive (default
            # 500 ms); one broker and its own controller need it rarely: at 500 ms the raft
            # thread was a sixth of an idle broker's CPU (docs/benchmarks.md)
            "metadata.max.idle.interval.ms": "5000",
            # the group coordinator holds offset commits this long to write them together
            # (default 5 ms); a local broker has a handful of groups and nothing to batch:
            # a commit's p50 13-15 -> 6-8 ms (docs/benchmarks.md)
            "group.coordinator.append.linger.ms": "0",
        }

    def _write_config(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        text = "".join(f"{key}={value}\n" for key, value in self.properties().items())
        self.config_file.write_text(text)

    def _java_cmd(self, main: str, *args: str) -> list[str]:
        libs = self._libs_dir or ensure_kafka_jars()
        return [
            find_java(),
            *JVM_OPTS,
            f"-Dlog4j2.configurationFile={LOG4J2_CONFIG}",
            "-cp",
            f"{libs}/*",
            main,
            *args,
        ]

    def cluster_id(self) -> str:
        """The cluster id kept in the data dir (made once)."""
        id_file = self.data_dir / "cluster.id"
        if not id_file.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            id_file.write_text(new_cluster_id())
        return id_file.read_text().strip()

    def format(self) -> None:
        """Write the config and format the storage, unless it is formatted already."""
        self._write_config()
        if (self.data_dir / "logs" / "meta.properties").exists():
            return
        cmd = self._java_cmd("kafka.tools.StorageTool", "format", "-t", self.cluster_id())
        cmd += ["-c", str(self.config_file), "--ignore-formatted"]
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"kafka storage format failed:\n{result.stdout}{result.stderr}")

    def _recorded_pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text())
        except (OSError, ValueError):
            return None

    def _forget(self) -> None:
        self.pid_file.unlink(missing_ok=True)

    def start(self, detach: bool = False) -> int:
        """Format if needed and start the broker (no-op if it runs); return its pid."""
        running = self.pid()
        if running is not None:
            return running
        self.format()
        self._log_offset = self.log_file.stat().st_size if self.log_file.exists() else 0
        cmd = self._java_cmd("kafka.Kafka", str(self.config_file))
        self._proc = process.spawn(cmd, log_file=self.log_file, detach=detach, cwd=self.data_dir)
        self._detached = detach
        self.pid_file.write_text(str(self._proc.pid))
        return self._proc.pid

    def _started_line_seen(self) -> bool:
        try:
            with self.log_file.open("rb") as log:
                log.seek(self._log_offset)
                return READY_LINE.encode() in log.read()
        except OSError:
            return False

    def _ready(self) -> bool:
        """The broker logged "started", accepts connections and answers metadata."""
        return (
            self._started_line_seen()
            and port_open("127.0.0.1", self.port)
            and metadata_ok(self.bootstrap)
        )
