"""Connection secrets never reach stderr (issue 10): the malformed DSNs libpq echoes back.

libpq answers a DSN it cannot parse with the DSN or the password itself, and
those mistyped URIs are exactly the ones that end up in CI logs. Each DSN
below goes through the REAL driver (psycopg 3 / libpq; no server is needed
to fail parsing) and through the CLI; neither the password nor any piece of it
may appear. The messages must still say what went wrong.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from upsell_ab.errors import StoreError
from upsell_ab.redact import dsn_secrets, redact

REPO = Path(__file__).resolve().parents[1]
PASSWORD = "S3cretPW"

MALFORMED = {
    "unclosed-ipv6": f"postgresql://alice:{PASSWORD}@[::1:5999/shop",
    "bad-percent": "postgresql://alice:S3cret%zzPW@localhost:5999/shop",
    "percent-nul": "postgresql://alice:S3cret%00PW@localhost:5999/shop",
    "spaces": "postgresql://alice:S3cret PW word@localhost:5999/shop",
    "keyword-form": "host=localhost port=1 password=S3cretPW user=alice dbname=shop sslmode=bogus",
    "keyword-quoted": "host=localhost port=1 password='S3cret PW' user=alice sslmode=bogus",
}
SECRET_PIECES = ("S3cret", "PW@", "S3cretPW", "zzPW", "%00PW", "cret%")
"""Fragments of the passwords above; none of them may be printed."""


def _leaks(text: str) -> list[str]:
    return [piece for piece in SECRET_PIECES if piece in text]


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_driver_error_is_redacted(name: str) -> None:
    pytest.importorskip("psycopg")
    from upsell_ab.events.engines import PostgresEngine

    with pytest.raises(StoreError) as caught:
        PostgresEngine(dsn=MALFORMED[name])
    text = str(caught.value)
    assert _leaks(text) == [], text
    assert text.startswith("cannot connect to PostgreSQL: ")
    assert caught.value.__cause__ is None and caught.value.__context__ is not None
    # the reason survives redaction
    assert re.search(r"IPv6|percent|spaces|sslmode|invalid|connection", text), text


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_cli_analyze_never_prints_the_password(tmp_path: Path, name: str) -> None:
    pytest.importorskip("psycopg")
    shutil.copy(REPO / "experiments" / "metrics.yaml", tmp_path / "metrics.yaml")
    spec = (REPO / "experiments" / "cake_wording.yaml").read_text(encoding="utf-8")
    spec = re.sub(r"data:\n(  .*\n)+", "data:\n  kind: postgres\n  dsn_env: SHOP_DSN\n", spec)
    (tmp_path / "pg.yaml").write_text(spec, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "upsell_ab.cli.main", "analyze", str(tmp_path / "pg.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "SHOP_DSN": MALFORMED[name], "PGCONNECT_TIMEOUT": "2"},
    )
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert _leaks(done.stderr + done.stdout) == [], done.stderr
    assert "cannot connect to PostgreSQL" in done.stderr


def test_generic_redaction_of_uris_and_keywords() -> None:
    text = 'failed for "postgresql://bob:hunter2@db/x" and mysql://u:p w@h, password=abc rest'
    cleaned = redact(text)
    assert "hunter2" not in cleaned and "p w" not in cleaned and "abc" not in cleaned
    assert "postgresql://bob:***@db/x" in cleaned and "rest" in cleaned


def test_secrets_of_a_dsn_include_decoded_and_split_password() -> None:
    secrets = dsn_secrets("postgresql://a:x%41y z1@h/d")
    assert "x%41y z1" in secrets and "xAy z1" in secrets and "x%41y" in secrets
    assert secrets == sorted(secrets, key=len, reverse=True)


def test_a_dsn_in_data_store_is_a_spec_problem(tmp_path: Path) -> None:
    from upsell_ab.spec.load import validate_paths

    shutil.copy(REPO / "experiments" / "metrics.yaml", tmp_path / "metrics.yaml")
    spec = (REPO / "experiments" / "cake_wording.yaml").read_text(encoding="utf-8")
    embedded = re.sub(r"data:\n(  .*\n)+", f"data:\n  store: postgresql://a:{PASSWORD}@h/d\n", spec)
    postgres = re.sub(
        r"data:\n(  .*\n)+",
        "data:\n  kind: postgres\n  dsn_env: SHOP_DSN\n  store: shop.duckdb\n",
        spec,
    )
    (tmp_path / "embedded.yaml").write_text(embedded, encoding="utf-8")
    (tmp_path / "postgres.yaml").write_text(postgres, encoding="utf-8")
    problems = validate_paths([tmp_path / "embedded.yaml", tmp_path / "postgres.yaml"])
    by_file = {Path(p.location.file or "").name: p for p in problems}
    assert by_file["embedded.yaml"].location.field == "data.store"
    assert by_file["postgres.yaml"].location.field == "data.store"
    assert all(PASSWORD not in str(p) for p in problems)
