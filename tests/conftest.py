"""Fixtures shared by every test tier: free ports, object stores, a real SeaweedFS S3 server."""

from __future__ import annotations

import json
import os

# Before any test imports torch or numba: their OpenMP threads must wait passively (see services/trainer.py).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from platform_core.object_store import ObjectStore, S3Options
from platform_core.settings import load_settings


TIERS = ("unit", "integration", "e2e", "browser")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test belongs to exactly one tier, so that selecting tiers can never drop a test."""
    wrong = [item.nodeid for item in items
             if sum(item.get_closest_marker(tier) is not None for tier in TIERS) != 1]
    if wrong:
        raise pytest.UsageError(
            f"{len(wrong)} test(s) need exactly one tier marker of {', '.join(TIERS)}: " + ", ".join(wrong[:5]))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tool_path(name: str) -> str:
    """A console script installed beside this interpreter (the venv's bin), else one on PATH."""
    beside = Path(sys.executable).with_name(name)
    found = str(beside) if beside.exists() else shutil.which(name)
    if not found:
        raise RuntimeError(f"{name} is not installed; install the project with its test extra")
    return found


@dataclass(frozen=True)
class S3Server:
    endpoint_url: str
    access_key_id: str
    secret_access_key: str
    log_path: Path

    def options(self) -> S3Options:
        return S3Options(endpoint_url=self.endpoint_url, access_key_id=self.access_key_id,
                         secret_access_key=self.secret_access_key)

    def env(self) -> dict[str, str]:
        """The PQ_ settings that point a process at this server."""
        return {"PQ_S3_ENDPOINT_URL": self.endpoint_url, "PQ_S3_ACCESS_KEY_ID": self.access_key_id,
                "PQ_S3_SECRET_ACCESS_KEY": self.secret_access_key}


def _wait_for_s3(server: S3Server, process: subprocess.Popen, timeout_s: float = 60.0) -> None:
    import boto3
    from botocore.config import Config

    client = boto3.client(
        "s3", endpoint_url=server.endpoint_url, aws_access_key_id=server.access_key_id,
        aws_secret_access_key=server.secret_access_key, region_name="us-east-1",
        config=Config(retries={"max_attempts": 1}, connect_timeout=1, read_timeout=5),
    )
    deadline = time.monotonic() + timeout_s
    probe = f"ready-probe-{os.getpid()}"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"SeaweedFS exited early; see {server.log_path}")
        try:
            # Ready means a bucket can be created and an object written, not just that the port is open.
            client.create_bucket(Bucket=probe)
            client.put_object(Bucket=probe, Key="probe", Body=b"ok")
            client.delete_object(Bucket=probe, Key="probe")
            client.delete_bucket(Bucket=probe)
            return
        except Exception:
            time.sleep(0.5)
    raise RuntimeError(f"SeaweedFS did not become ready in {timeout_s:.0f}s; see {server.log_path}")


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """A real SeaweedFS server (master, volume, filer and S3 gateway) on loopback, for the session."""
    root = tmp_path_factory.mktemp("seaweedfs")
    key, secret = "pqtestkey", "pqtestsecret"
    config = root / "s3.json"
    config.write_text(json.dumps({"identities": [{
        "name": "pq-tests", "credentials": [{"accessKey": key, "secretKey": secret}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}))
    ports = {name: free_port() for name in (
        "master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port",
        "filer.port.grpc", "s3.port", "s3.port.grpc")}
    data = root / "data"
    data.mkdir()
    log_path = root / "weed.log"
    command = [tool_path("weed"), "server", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-s3",
               f"-s3.config={config}", "-volume.max=0", "-master.volumeSizeLimitMB=64",
               # The Iceberg and Lance side servers default to fixed ports that a second server would collide on.
               "-s3.port.iceberg=0", "-s3.port.lance=0", "-iam=false",
               *[f"-{name}={port}" for name, port in ports.items()]]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    server = S3Server(f"http://127.0.0.1:{ports['s3.port']}", key, secret, log_path)
    try:
        _wait_for_s3(server, process)
        yield server
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture
def file_store(tmp_path: Path) -> ObjectStore:
    """An object store in a fresh local folder."""
    return ObjectStore((tmp_path / "store").as_uri())


@pytest.fixture
def s3_store(s3_server: S3Server, request: pytest.FixtureRequest) -> ObjectStore:
    """An object store under a fresh prefix of a bucket on the session's SeaweedFS server."""
    prefix = request.node.name.replace("[", "-").replace("]", "").replace("/", "-")[:60]
    store = ObjectStore(f"s3://pq-tests/{prefix}-{time.monotonic_ns()}", s3=s3_server.options())
    store.ensure_bucket()
    return store


@pytest.fixture(params=["file", "s3"])
def any_store(request: pytest.FixtureRequest) -> ObjectStore:
    """The same test on a local folder and on the real S3 server."""
    return request.getfixturevalue(f"{request.param}_store")


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    """The process's shared SparkSession (local[2]), started once and stopped after the last test."""
    from data_engine.spark_session import get_spark, stop_spark

    home = tmp_path_factory.mktemp("spark-home")
    session = get_spark(load_settings(home=home, spark_master="local[2]"))
    yield session
    stop_spark()
