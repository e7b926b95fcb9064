"""The programme's long-term holdout (issue 15 part 3): ``program.yaml``, enforced by
every assigner (single, bulk, bandit, the simulator) and by the GrowthBook export.

Oracles: the binomial share of held-out ids (4 SE), scipy's chi-square for independence
of holdout membership and the experiment's variant split, the unheld assigner (the
holdout removes customers, it never moves the others), and the installed GrowthBook
Python SDK evaluating the exported payload's ``filters``.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import chi2_contingency

from upsell_ab.assignment import Assigner
from upsell_ab.assignment.holdout import HoldoutGate
from upsell_ab.spec.holdout_models import Holdout
from upsell_ab.spec.load import load_spec

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "experiments"
PROGRAM = """# the whole upsell programme
holdout:
  id: upsell_2027
  name: No upsell offers at all in 2027
  share: 0.05
  start: 2027-01-01
  window: 180d
  metrics: [repeat_purchase_30d, unsubscribe_rate, complaint_rate, customer_ltv_90d]
"""
HOLDOUT = Holdout(id="upsell_2027", share=0.05)
IDS = [f"cust-{i}" for i in range(100_000)] + ["顧客ケーキ7", "🎂u1", "", "42"]


def _run(argv: list[str]) -> tuple[int, str]:
    from upsell_ab.cli.main import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        code = main(argv)
    return code, out.getvalue()


@pytest.fixture()
def shop(tmp_path: Path) -> Path:
    """The bundled specs and catalogue, plus a program.yaml."""
    folder = tmp_path / "experiments"
    shutil.copytree(EXAMPLES, folder)
    (folder / "program.yaml").write_text(PROGRAM, "utf-8")
    return folder


def test_the_holdout_share_is_stable_and_independent_of_the_variants() -> None:
    gate = HoldoutGate(HOLDOUT)
    held = gate.held_out_many(IDS[:100_000])
    share = float(held.mean())
    assert abs(share - 0.05) < 4 * math.sqrt(0.05 * 0.95 / 100_000)
    import pandas as pd

    assigner = Assigner(load_spec(EXAMPLES / "cake_wording.yaml"))
    variants = assigner.assign_many(IDS[:100_000], pd.DataFrame({"channel": ["app"] * 100_000}))
    table = [
        [int(np.sum(held & (variants == v))), int(np.sum(~held & (variants == v)))]
        for v in ("generic", "pairing")
    ]
    assert chi2_contingency(table).pvalue > 1e-3  # membership ignores the experiment hash


def test_single_and_bulk_agree_and_nobody_else_moves() -> None:
    spec = load_spec(EXAMPLES / "offer_timing.yaml")  # namespace, coverage, targeting
    attributes = [{"channel": "web" if i % 3 else "email"} for i in range(len(IDS))]
    import pandas as pd

    frame = pd.DataFrame(attributes)
    plain = Assigner(spec)
    held = Assigner(spec, holdout=HOLDOUT)
    bulk = held.assign_many_with_reasons(IDS, frame)
    reasons = bulk.reason_names()
    before = plain.assign_many(IDS, frame)
    gate = HoldoutGate(HOLDOUT)
    for i in range(0, len(IDS), 97):
        one = held.assign(IDS[i], attributes[i])
        assert one.variant == bulk.variants[i] and one.reason.value == reasons[i]
    for i, unit in enumerate(IDS):
        if reasons[i] == "holdout":
            assert bulk.variants[i] is None and gate.held_out(unit)
        else:
            assert bulk.variants[i] == before[i]  # the holdout never reshuffles anyone
    # targeting comes first, then the holdout: a held-out e-mail customer is "targeting"
    assert (reasons == "holdout").sum() > 0
    assert all(
        reasons[i] == "targeting"
        for i in range(len(IDS))
        if attributes[i]["channel"] == "email" and IDS[i]
    )


def test_a_qa_override_still_wins() -> None:
    spec = load_spec(EXAMPLES / "offer_timing.yaml")
    unit = next(iter(spec.overrides))
    # a holdout seed that holds the QA tester out, to prove the override wins anyway
    seed = next(
        s
        for s in (f"s{k}" for k in range(1000))
        if HoldoutGate(Holdout(id="x", share=0.5, seed=s)).held_out(unit)
    )
    result = Assigner(spec, holdout=Holdout(id="x", share=0.5, seed=seed)).assign(unit)
    assert result.variant == spec.overrides[unit] and result.reason.value == "override"


def test_a_holdout_on_another_attribute_uses_that_attribute() -> None:
    spec = load_spec(EXAMPLES / "cake_wording.yaml")
    by_household = Holdout(id="homes", share=0.3, unit="household_id")
    gate = HoldoutGate(by_household)
    held_home = next(f"h{k}" for k in range(1000) if gate.held_out(f"h{k}"))
    free_home = next(f"h{k}" for k in range(1000) if not gate.held_out(f"h{k}"))
    assigner = Assigner(spec, holdout=by_household)
    attrs = {"channel": "app"}
    assert assigner.assign("c1", {**attrs, "household_id": held_home}).reason.value == "holdout"
    assert assigner.assign("c1", {**attrs, "household_id": free_home}).reason.value != "holdout"
    # no household id: held out (as the SDK filters out a unit without the attribute)
    assert assigner.assign("c1", attrs).reason.value == "holdout"


def test_the_growthbook_sdk_applies_the_exported_holdout(shop: Path) -> None:
    from growthbook import GrowthBook

    from upsell_ab.web.growthbook import export_paths

    payload = export_paths([shop])
    features = payload["features"]
    rule = features["offer_timing"]["rules"][-1]
    assert "namespace" not in rule and len(rule["filters"]) == 2  # holdout + namespace
    assert rule["filters"][0] == {
        "seed": "holdout:upsell_2027",
        "ranges": [[0.05, 1.0]],
        "hashVersion": 2,
        "attribute": "customer_id",
    }
    client = GrowthBook(features=features)
    mismatches = []
    for name in ("offer_timing", "cake_wording"):
        assigner = Assigner.for_spec(shop / f"{name}.yaml")
        for i in range(4000):
            attributes = {"customer_id": f"cust-{i}", "channel": "app" if i % 2 else "web"}
            client.set_attributes(attributes)
            value = client.eval_feature(name).value
            sdk = None if value is None else value["variant"]
            ours = assigner.assign(f"cust-{i}", attributes)
            if sdk != ours.variant:
                mismatches.append((name, i, sdk, ours))
    assert not mismatches, mismatches[:3]
    held = [i for i in range(4000) if HoldoutGate(HOLDOUT).held_out(f"cust-{i}")]
    assert 120 < len(held) < 290  # about 5 % of 4,000


def test_validate_checks_program_yaml_with_locations(shop: Path) -> None:
    assert _run(["validate", str(shop)])[0] == 0
    bad = PROGRAM.replace("share: 0.05", "share: 0.6").replace("window: 180d", "windw: 180d")
    (shop / "program.yaml").write_text(bad, "utf-8")
    code, out = _run(["validate", str(shop)])
    assert code == 1
    assert "program.yaml:5:" in out and "share" in out
    assert "program.yaml:7:" in out and "did you mean 'window'" in out
    seed = PROGRAM.replace("  share: 0.05\n", "  share: 0.05\n  seed: cake_wording\n")
    (shop / "program.yaml").write_text(seed, "utf-8")
    code, out = _run(["validate", str(shop)])
    assert code == 1 and "also experiment 'cake_wording'" in out


def test_assign_and_simulate_keep_held_out_customers_out(shop: Path, tmp_path: Path) -> None:
    gate = HoldoutGate(HOLDOUT)
    held = next(f"cust-{i}" for i in range(1000) if gate.held_out(f"cust-{i}"))
    code, out = _run(
        ["assign", str(shop / "cake_wording.yaml"), "--unit", held, "--attr", "channel=app"]
    )
    assert code == 0 and "holdout" in out
    from upsell_ab.simulate import simulate
    from upsell_ab.spec.load import load_experiment

    resolved = load_experiment(shop / "cake_wording.yaml")
    exposures, _ = simulate([resolved], units=4000, days=7, seed=3)
    # the experiment's exposures; every customer also gets one programme exposure
    # (experiment = the holdout's id: tests/test_simulate_programme.py)
    ours = exposures["experiment"] == "cake_wording"
    exposed = exposures.loc[ours, "unit_id"].unique()
    assert len(exposed) > 0 and not gate.held_out_many(exposed).any()
    assert set(exposures.loc[~ours, "experiment"]) == {"upsell_2027"}


def test_the_growthbook_javascript_sdk_applies_the_exported_holdout(
    shop: Path, tmp_path: Path
) -> None:
    """The real GrowthBook JS SDK (tests/js) evaluates the exported ``filters`` for 5,000
    customers exactly as our assigner with the holdout (namespace spec included)."""
    from tests.test_web_growthbook_conformance import js_results
    from upsell_ab.web.growthbook import export_paths

    payload = export_paths([shop])
    names = ["offer_timing", "cake_wording"]
    people = [
        {"customer_id": f"cust-{i}", "channel": "app" if i % 2 else "web"} for i in range(5000)
    ]
    rows = js_results(payload, names, people, tmp_path)
    assigners = {n: Assigner.for_spec(shop / f"{n}.yaml") for n in names}
    held = 0
    mismatches = []
    for person, row in zip(people, rows, strict=True):
        held += HoldoutGate(HOLDOUT).held_out(person["customer_id"])
        for name, (source, variant, _index, _in) in zip(names, row, strict=True):
            ours = assigners[name].assign(person["customer_id"], person)
            sdk = variant if source in ("experiment", "force") else None
            if sdk != ours.variant:
                mismatches.append((name, person, source, variant, ours))
    assert not mismatches, mismatches[:3]
    assert 170 < held < 330  # about 5 % of 5,000 held out, and none of them assigned


def test_the_programme_against_its_holdout(shop: Path, tmp_path: Path) -> None:
    """20,000 customers with a programme exposure each (variant from HoldoutGate.group);
    held-out customers repeat within 30 days at 50 %, programme customers at 44 % (offers
    that push cost loyalty). `upsell-ab holdout` finds it: the repeat-rate comparison
    equals statsmodels' two-proportion z-test on the counts, and SRM is tested against
    the 5 % share."""
    import pandas as pd
    from statsmodels.stats.proportion import proportions_ztest

    from upsell_ab.events.store import EventStore

    gate = HoldoutGate(HOLDOUT)
    rng = np.random.default_rng(15)
    ids = [f"cust-{i}" for i in range(20_000)]
    group = np.array([gate.group(u) for u in ids], dtype=object)
    seen = np.datetime64("2027-01-05T10:00:00", "us") + rng.integers(0, 20 * 86400, 20_000).astype(
        "timedelta64[s]"
    )
    repeat = rng.random(20_000) < np.where(group == "holdout", 0.50, 0.44)
    exposures = pd.DataFrame(
        {"experiment": "upsell_2027", "variant": group, "unit_id": ids, "timestamp": seen}
    )
    events = pd.DataFrame(
        {
            "unit_id": np.array(ids, dtype=object)[repeat],
            "timestamp": seen[repeat] + np.timedelta64(5 * 86400, "s"),
            "event_type": "order",
            "value": 3000.0,
            "event_id": [f"o{i}" for i in range(int(repeat.sum()))],
        }
    )
    store = tmp_path / "programme.duckdb"
    with EventStore(store) as target:
        target.ingest_exposures(exposures)
        target.ingest_events(events.assign(discount=0.0, quantity=1.0))
    out_file = tmp_path / "programme.json"
    argv = ["holdout", str(shop), "--store", str(store), "--format", "json", "-o", str(out_file)]
    code, err = _run(argv)
    assert code == 0, err
    (experiment,) = json.loads(out_file.read_text("utf-8"))["experiments"]
    assert experiment["experiment"] == "upsell_2027"
    metric = next(m for m in experiment["metrics"] if m["name"] == "repeat_purchase_30d")
    (comparison,) = metric["comparisons"]
    assert comparison["variant"] == "programme" and comparison["baseline"] == "holdout"
    held = group == "holdout"
    counts = [int(repeat[~held].sum()), int(repeat[held].sum())]
    _, p_value = proportions_ztest(counts, [int((~held).sum()), int(held.sum())])
    assert comparison["p_value"] == pytest.approx(p_value, rel=1e-6)
    assert comparison["absolute_lift"] < 0  # the programme cost repeat purchases
    assert experiment["quality"]["srm_p_value"] > 0.001
    text = _run(["holdout", str(shop), "--store", str(store)])[1]
    assert "holdout" in text and "programme" in text
