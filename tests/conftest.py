"""Shared fixtures: a REAL PostgreSQL server and a local Spark session.

The PostgreSQL fixture runs ``initdb`` into a temporary directory and starts
the server on a free 127.0.0.1 port (as the ``postgres`` OS user when the tests
run as root, because PostgreSQL refuses to run as root). It is skipped only
when no PostgreSQL binaries exist. The Spark fixture starts PySpark in
``local[2]`` mode with a UTC session time zone and few shuffle partitions.
Both are session-scoped: started once, torn down at the end.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings as hypothesis_settings

# CI gates on the same examples every run (derandomized), so a red build is reproducible
# and points at a change, not at luck; local runs keep exploring new random examples.
hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def _postgres_bin_dir() -> Path | None:
    """Newest ``/usr/lib/postgresql/<version>/bin`` holding initdb, else PATH."""
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: (
            int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0
        ),
    )
    if candidates:
        return Path(candidates[-1]).parent
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_postgres_user(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: drop to the ``postgres`` user when we are root."""
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return command


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    """DSN of a throwaway PostgreSQL server (database ``upsell_ab``, user ``postgres``)."""
    if _postgres_bin_dir() is None:
        pytest.skip("no PostgreSQL binaries (install the Debian package 'postgresql')")
    yield from start_postgres()


def start_postgres() -> Iterator[str]:
    """Start a server in a temporary directory, yield its DSN, stop it when resumed/closed
    (a plain generator, so benchmarks can use it outside pytest)."""
    bin_dir = _postgres_bin_dir()
    if bin_dir is None:
        raise RuntimeError("no PostgreSQL binaries (install the Debian package 'postgresql')")
    root = Path(tempfile.mkdtemp(prefix="upsell_ab_pg_"))
    data_dir = root / "data"
    socket_dir = root / "socket"
    socket_dir.mkdir()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
        shutil.chown(socket_dir, "postgres", "postgres")
    subprocess.run(
        _as_postgres_user(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(data_dir),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--no-locale",
            ]
        ),
        check=True,
        capture_output=True,
    )
    port = _free_port()
    log_file = root / "server.log"
    server = subprocess.Popen(
        _as_postgres_user(
            [
                str(bin_dir / "postgres"),
                "-D",
                str(data_dir),
                "-p",
                str(port),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                f"unix_socket_directories={socket_dir}",
                "-c",
                "fsync=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "timezone=UTC",
            ]
        ),
        stdout=subprocess.DEVNULL,
        stderr=open(log_file, "w"),  # noqa: SIM115 - closed with the process
    )
    import psycopg

    base = f"host=127.0.0.1 port={port} user=postgres"
    deadline = time.monotonic() + 30
    while True:
        try:
            with psycopg.connect(base + " dbname=postgres", autocommit=True) as conn:
                conn.execute("CREATE DATABASE upsell_ab")
            break
        except psycopg.OperationalError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                raise RuntimeError(
                    "PostgreSQL did not start: " + log_file.read_text(errors="replace")[-2000:]
                ) from None
            time.sleep(0.2)
    try:
        yield base + " dbname=upsell_ab"
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def spark_session() -> Iterator[Any]:
    """A PySpark session in local mode (2 threads, UTC, 1 shuffle partition, no UI).

    The driver gets 2 GB and keeps the plans of its last 5 SQL executions, not 1,000: over
    the suite's ~110 executions the kept plans grew the heap to 317 MB (139 MB with 5), and
    the largest query then ran out of the 1 GB driver (in CI, and reproduced here); with 5
    kept the Spark tests also ran in 124 s instead of 243 s (less garbage collection)."""
    pyspark_sql = pytest.importorskip("pyspark.sql")
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.skip("PySpark needs Java (set JAVA_HOME or put java on PATH)")
    spark = (
        pyspark_sql.SparkSession.builder.master("local[2]")
        .appName("upsell_ab-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "1")
        .config("spark.default.parallelism", "2")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.memory", "2g")
        .config("spark.sql.ui.retainedExecutions", "5")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    try:
        yield spark
    finally:
        spark.stop()
