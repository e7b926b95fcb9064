"""The event collector, run for real (`upsell-ab serve` under uvicorn) and called over
loopback HTTP: durable 202s that ingest idempotently, and every refusal (401, 413,
422, 429, CORS) leaving the spool untouched and tokens out of responses and logs."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.collector_support import OTHER_TOKEN, TOKEN, running_collector
from upsell_ab.cli.main import main

AUTH = {"Authorization": f"Bearer {TOKEN}"}
EXAMPLES = Path(__file__).parent.parent / "experiments"
SPOOL_NAME = re.compile(r"^collector-\d+-[0-9a-f]{8}-\d{8}\.jsonl$")


def exposure(unit: str, **extra: Any) -> dict[str, Any]:
    return {
        "experiment": "cake_wording",
        "variant": "pairing",
        "unit_id": unit,
        "event_id": uuid.uuid4().hex,
        "timestamp": "2026-03-05T10:00:00+09:00",
        "attributes": {"channel": "app"},
        **extra,
    }


def order(unit: str, value: float = 520) -> dict[str, Any]:
    return {
        "unit_id": unit,
        "event_type": "upsell_purchase",
        "event_id": uuid.uuid4().hex,
        "timestamp": "2026-03-05T10:05:00Z",
        "value": value,
        "order_id": f"o-{unit}",
    }


def spool_files(spool: Path) -> list[Path]:
    return sorted(p for p in spool.iterdir() if p.is_file()) if spool.exists() else []


def ingest(spool: Path, store: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    capsys.readouterr()
    assert main(["ingest", "--spool", str(spool), "--store", str(store), "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Any:
    work = tmp_path_factory.mktemp("collector")
    payload = work / "features.json"
    assert main(["export", "growthbook", str(EXAMPLES), "-o", str(payload)]) == 0
    with running_collector(
        work,
        "--features",
        str(payload),
        "--allow-origin",
        "http://shop.localhost:8080",
        "--max-body",
        "20000",
        "--max-batch",
        "50",
        "--rate",
        "1000",
        "--burst",
        "1000",
    ) as running:
        running.payload = payload  # type: ignore[attr-defined]
        yield running


def test_accepted_records_ingest_once(
    collector: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    units = ["c-1", "顧客-2", "🎂-3"]
    exposures = [exposure(u) for u in units]
    events = [order(u) for u in units[:2]]
    first = httpx.post(collector.url + "/v1/exposures", json=exposures, headers=AUTH)
    assert first.status_code == 202 and first.json() == {"accepted": 3}
    # a single object is a batch of one
    second = httpx.post(collector.url + "/v1/events", json=events[0], headers=AUTH)
    assert second.status_code == 202 and second.json() == {"accepted": 1}
    third = httpx.post(collector.url + "/v1/events", json=events[1:], headers=AUTH)
    assert third.status_code == 202
    files = spool_files(collector.spool)
    assert files and all(SPOOL_NAME.match(p.name) for p in files)
    store = tmp_path / "store.duckdb"
    report = ingest(collector.spool, store, capsys)
    assert report["store_rows"] == {"exposures": 3, "events": 2}
    # the client retries everything (say, after a timeout): same event ids, nothing new
    retry = httpx.post(collector.url + "/v1/exposures", json=exposures, headers=AUTH)
    assert retry.status_code == 202
    assert httpx.post(collector.url + "/v1/events", json=events, headers=AUTH).status_code == 202
    again = ingest(collector.spool, store, capsys)
    assert again["store_rows"] == {"exposures": 3, "events": 2}
    import duckdb

    with duckdb.connect(str(store), read_only=True) as db:
        rows = db.execute(
            "select unit_id, variant, channel from exposures order by unit_id"
        ).fetchall()
    assert sorted(rows) == sorted((u, "pairing", "app") for u in units)


def post_refused(collector: Any, path: str, body: Any, headers: dict[str, str]) -> httpx.Response:
    before = spool_files(collector.spool)
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = httpx.post(
        collector.url + path,
        content=content,
        headers={"Content-Type": "application/json", **headers},
    )
    assert spool_files(collector.spool) == before, "a refused request reached the spool"
    assert TOKEN not in response.text and OTHER_TOKEN not in response.text
    return response


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong-token-0123456789"}, {"Authorization": TOKEN}],
)
def test_missing_or_wrong_token_is_401(collector: Any, headers: dict[str, str]) -> None:
    response = post_refused(collector, "/v1/exposures", [exposure("x")], headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_every_site_token_works(collector: Any) -> None:
    other = {"Authorization": f"Bearer {OTHER_TOKEN}"}
    response = httpx.post(collector.url + "/v1/exposures", json=exposure("c-9"), headers=other)
    assert response.status_code == 202


def test_invalid_records_are_422_with_field_paths(collector: Any) -> None:
    good = exposure("c-10")
    bad_unit = exposure("   ")
    unknown_variant = exposure("c-11", variant="nope")
    extra_field = {**exposure("c-12"), "unitid": "typo"}
    naive_time = exposure("c-13", timestamp="2026-03-05T10:00:00")
    body = [good, bad_unit, unknown_variant, extra_field, naive_time]
    response = post_refused(collector, "/v1/exposures", body, AUTH)
    assert response.status_code == 422
    paths = {p["path"]: p["message"] for p in response.json()["problems"]}
    assert set(paths) == {"[1].unit_id", "[2].variant", "[3].unitid", "[4].timestamp"}
    assert "time-zone" in paths["[4].timestamp"]
    events = [order("c-1", value=-5), {**order("c-2"), "value": True}]
    response = post_refused(collector, "/v1/events", events, AUTH)
    assert response.status_code == 422
    assert {p["path"] for p in response.json()["problems"]} == {"[0].value", "[1].value"}


@pytest.mark.parametrize(
    "raw",
    [b"{not json", b'{"unit_id": NaN}', b'[{"value": 1e400}]', b"", b"\xff\xfe"],
)
def test_malformed_json_is_422(collector: Any, raw: bytes) -> None:
    response = post_refused(collector, "/v1/events", raw, AUTH)
    assert response.status_code == 422 and response.json()["error"] == "invalid_json"


def test_body_and_batch_limits_are_413(collector: Any) -> None:
    too_many = [exposure(f"c-{i}") for i in range(51)]
    response = post_refused(collector, "/v1/exposures", too_many, AUTH)
    assert response.status_code == 413 and "limit is 50" in response.json()["message"]
    huge = exposure("c-1", attributes={"note": "x" * 250})
    response = post_refused(collector, "/v1/exposures", [huge] * 49, AUTH)
    assert response.status_code == 413 and response.json()["error"] == "too_large"


def test_request_data_never_names_a_file(collector: Any) -> None:
    hostile = exposure("../../etc/passwd", event_id="..-..-etc-passwd")
    response = httpx.post(collector.url + "/v1/exposures", json=hostile, headers=AUTH)
    assert response.status_code == 202
    assert all(SPOOL_NAME.match(p.name) for p in spool_files(collector.spool))
    assert not (collector.spool.parent / "etc").exists()


def test_cors_allows_only_the_configured_origin(collector: Any) -> None:
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
    }
    ok = httpx.options(
        collector.url + "/v1/events",
        headers={"Origin": "http://shop.localhost:8080", **preflight},
    )
    assert ok.status_code == 200
    assert ok.headers["access-control-allow-origin"] == "http://shop.localhost:8080"
    assert "authorization" in ok.headers["access-control-allow-headers"].lower()
    evil = httpx.options(
        collector.url + "/v1/events", headers={"Origin": "https://evil.example", **preflight}
    )
    assert evil.status_code == 400
    assert "access-control-allow-origin" not in evil.headers


def test_features_have_an_etag_and_follow_the_file(collector: Any, tmp_path: Path) -> None:
    first = httpx.get(collector.url + "/v1/features")
    assert first.status_code == 200
    etag = first.headers["etag"]
    assert set(first.json()["features"]) >= {"cake_wording", "offer_timing"}
    cached = httpx.get(collector.url + "/v1/features", headers={"If-None-Match": etag})
    assert cached.status_code == 304 and cached.content == b""
    # new weights exported (as a bandit update would): new ETag, new body, no restart
    payload = json.loads(collector.payload.read_text(encoding="utf-8"))
    payload["features"]["cake_wording"]["rules"][-1]["weights"] = [0.7, 0.3]
    staged = tmp_path / "staged.json"
    staged.write_text(json.dumps(payload), encoding="utf-8")
    staged.replace(collector.payload)
    fresh = httpx.get(collector.url + "/v1/features", headers={"If-None-Match": etag})
    assert fresh.status_code == 200 and fresh.headers["etag"] != etag
    assert fresh.json()["features"]["cake_wording"]["rules"][-1]["weights"] == [0.7, 0.3]


def test_published_schemas_are_served(collector: Any) -> None:
    for kind in ("exposure", "event"):
        response = httpx.get(f"{collector.url}/v1/schema/{kind}")
        assert response.status_code == 200
        schema = response.json()
        assert schema["$schema"].endswith("2020-12/schema")
        assert "event_id" in schema["required"]


def test_tokens_stay_out_of_the_log(collector: Any) -> None:
    httpx.post(collector.url + "/v1/exposures", json=exposure("c-log"), headers=AUTH)
    log = collector.log.read_text(encoding="utf-8", errors="replace")
    assert TOKEN not in log and OTHER_TOKEN not in log


def test_rate_limit_per_site_is_429(tmp_path: Path) -> None:
    with running_collector(tmp_path, "--rate", "1", "--burst", "3") as limited:
        codes = [
            httpx.post(limited.url + "/v1/events", json=order("c-1"), headers=AUTH).status_code
            for _ in range(5)
        ]
        assert codes[:3] == [202, 202, 202] and codes[3:] == [429, 429]
        refused = httpx.post(limited.url + "/v1/events", json=order("c-1"), headers=AUTH)
        assert int(refused.headers["retry-after"]) >= 1
        # another site has its own bucket
        other = {"Authorization": f"Bearer {OTHER_TOKEN}"}
        assert (
            httpx.post(limited.url + "/v1/events", json=order("c-2"), headers=other).status_code
            == 202
        )
        lines = sum(
            len(p.read_text(encoding="utf-8").splitlines()) for p in spool_files(limited.spool)
        )
        assert lines == 4


def test_bad_tokens_file_exits_1_naming_the_line_not_the_token(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tokens = tmp_path / "tokens.txt"
    tokens.write_text("shop:good-token-0123456789\ncafe:short1\n", encoding="utf-8")
    code = main(["serve", "--spool", str(tmp_path / "s"), "--tokens", str(tokens)])
    err = capsys.readouterr().err
    assert code == 1
    assert f"{tokens}:2" in err and "short1" not in err and "Traceback" not in err
