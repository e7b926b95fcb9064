"""`upsell-ab export growthbook`: payload shape, located refusals, no traceback."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from upsell_ab.cli.main import main

EXAMPLES = Path(__file__).parent.parent / "experiments"


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_payload_has_one_feature_per_running_experiment(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(["export", "growthbook", str(EXAMPLES)], capsys)
    assert code == 0
    features = json.loads(out)["features"]
    # subscription_upgrade is a draft: not exported
    assert sorted(features) == [
        "cafe_addon_switchback", "cake_wording", "cookie_wording_bandit", "discount_depth",
        "laptop_bundle", "offer_timing",
    ]  # fmt: skip
    # a switchback hashes the time slot, not the receipt
    assert features["cafe_addon_switchback"]["rules"][-1]["hashAttribute"] == "time_slot"
    timing = features["offer_timing"]
    assert timing["defaultValue"] is None
    force, experiment = timing["rules"][:-1], timing["rules"][-1]
    # QA overrides first, as force rules on the hash attribute
    assert [r["condition"] for r in force] == [
        {"customer_id": {"$in": ["qa-tester-1"]}},
        {"customer_id": {"$in": ["qa-tester-2"]}},
    ]
    assert [r["force"]["variant"] for r in force] == ["post_purchase", "email_3d"]
    assert experiment["key"] == "offer_timing"
    assert experiment["hashVersion"] == 2
    assert experiment["hashAttribute"] == "customer_id"
    assert experiment["seed"] == "offer_timing"
    assert experiment["coverage"] == 0.8
    assert experiment["weights"] == [0.34, 0.33, 0.33]
    assert experiment["namespace"] == ["checkout_offers", 0.0, 0.5]
    assert experiment["condition"] == {"channel": {"$in": ["web", "app"]}}
    assert [v["variant"] for v in experiment["variations"]] == [
        "at_checkout",
        "post_purchase",
        "email_3d",
    ]
    wording = experiment["variations"][1]["offer"]["wording"]
    assert wording == "Thanks for your order! Add a matching case to the same delivery?"
    laptop = features["laptop_bundle"]["rules"][-1]["condition"]
    assert laptop["segment"] == {"$exists": True, "$nin": ["business"]}
    assert laptop["past_orders"] == {"$type": "number", "$gte": 0}


def test_output_file_is_stable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    assert run(["export", "growthbook", str(EXAMPLES), "--output", str(first)], capsys)[0] == 0
    assert run(["export", "growthbook", str(EXAMPLES), "-o", str(second)], capsys)[0] == 0
    assert first.read_bytes() == second.read_bytes()
    assert "ケーキもいかがですか" in first.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("line", "needle"),
    [
        ("    - {attribute: shop.region, op: eq, value: kanto}", "nested path"),
        ("    - {attribute: constructor, op: exists}", "member of every JavaScript object"),
        ("    - {attribute: member_no, op: eq, value: 9007199254740993}", "2**53"),
        ("    - {attribute: $or, op: eq, value: x}", "operator"),
    ],
)
def test_inexpressible_targeting_is_refused_at_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], line: str, needle: str
) -> None:
    shutil.copy(EXAMPLES / "metrics.yaml", tmp_path / "metrics.yaml")
    text = (EXAMPLES / "cake_wording.yaml").read_text(encoding="utf-8")
    anchor = "    - {attribute: channel, op: in, values: [in_store, app]}\n"
    assert anchor in text
    text = text.replace(anchor, anchor + line + "\n")
    spec = tmp_path / "cake_wording.yaml"
    spec.write_text(text, encoding="utf-8")
    expected_line = text.splitlines().index(line) + 1
    out_file = tmp_path / "payload.json"
    code, _, err = run(["export", "growthbook", str(spec), "-o", str(out_file)], capsys)
    assert code == 1
    assert not out_file.exists()
    assert "Traceback" not in err
    assert f"{spec}:{expected_line}:" in err
    assert "population.targeting[1]" in err
    assert needle in err
    assert "cannot export to GrowthBook exactly" in err


def test_empty_seed_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copy(EXAMPLES / "metrics.yaml", tmp_path / "metrics.yaml")
    text = (EXAMPLES / "cake_wording.yaml").read_text(encoding="utf-8")
    text = text.replace("  unit: customer_id\n", '  unit: customer_id\n  seed: ""\n', 1)
    spec = tmp_path / "cake_wording.yaml"
    spec.write_text(text, encoding="utf-8")
    code, _, err = run(["export", "growthbook", str(spec)], capsys)
    assert code == 1
    assert "population.seed" in err and "empty seed" in err


def test_invalid_spec_and_missing_path_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: x\nstatus: running\nvariants: 3\n", encoding="utf-8")
    code, _, err = run(["export", "growthbook", str(bad)], capsys)
    assert code == 1 and "Traceback" not in err and str(bad) in err
    code, _, err = run(["export", "growthbook", str(tmp_path / "nope")], capsys)
    assert code == 1 and "no such file" in err


def test_current_weights_replace_the_spec_weights_and_bad_ones_are_refused() -> None:
    from upsell_ab.spec.load import load_spec
    from upsell_ab.web.growthbook import features_payload, refusals

    spec = load_spec(EXAMPLES / "offer_timing.yaml")
    payload = features_payload([spec], {"offer_timing": [0.6, 0.3, 0.1]})
    assert payload["features"]["offer_timing"]["rules"][-1]["weights"] == [0.6, 0.3, 0.1]
    assert [r.message for r in refusals(spec, [0.5, 0.5])] == ["2 current weights for 3 variants"]
    assert "equal weights" in refusals(spec, [0.5, 0.3, 0.1])[0].message
    with pytest.raises(ValueError, match=r"sum to 0\.9"):
        features_payload([spec], {"offer_timing": [0.5, 0.3, 0.1]})


def test_weights_file_feeds_the_export(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    weights = tmp_path / "weights.json"
    weights.write_text('{"cake_wording": [0.8, 0.2]}', encoding="utf-8")
    code, out, _ = run(["export", "growthbook", str(EXAMPLES), "--weights", str(weights)], capsys)
    assert code == 0
    features = json.loads(out)["features"]
    assert features["cake_wording"]["rules"][-1]["weights"] == [0.8, 0.2]
    assert features["offer_timing"]["rules"][-1]["weights"] == [0.34, 0.33, 0.33]
    weights.write_text('{"cake_wording": [0.8, 0.1]}', encoding="utf-8")
    code, _, err = run(["export", "growthbook", str(EXAMPLES), "--weights", str(weights)], capsys)
    assert code == 1 and "cake_wording.yaml" in err and "equal weights" in err
    weights.write_text('{"cake_wordin": [0.5, 0.5]}', encoding="utf-8")
    code, _, err = run(["export", "growthbook", str(EXAMPLES), "--weights", str(weights)], capsys)
    assert code == 1 and "'cake_wordin', which is not a running experiment" in err
    weights.write_text('{"cake_wording": "half"}', encoding="utf-8")
    code, _, err = run(["export", "growthbook", str(EXAMPLES), "--weights", str(weights)], capsys)
    assert code == 1 and str(weights) in err and "list of numbers" in err


def test_export_does_not_import_the_collector_stack(tmp_path: Path) -> None:
    """The web extra's packages are imported only by the collector: `export` (and the CLI's
    start) stay light."""
    import subprocess
    import sys

    argv = ["export", "growthbook", str(EXAMPLES), "-o", str(tmp_path / "p.json")]
    code = (
        "import sys; from upsell_ab.cli.main import main; "
        f"rc = main({argv!r}); "
        "heavy = [m for m in ('starlette', 'uvicorn', 'jsonschema', 'fastjsonschema', 'pandas') "
        "if m in sys.modules]; print(rc, heavy)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "0 []"
