"""`upsell-ab init`: a spec that validates, the standard catalogue, and a plan."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import yaml

from upsell_ab.cli.main import main
from upsell_ab.spec.load import DEFAULT_CATALOGUE, load_experiment
from upsell_ab.spec.validate import validate_paths

ROOT = Path(__file__).resolve().parents[1]


def test_packaged_catalogue_is_the_standard_one() -> None:
    shipped = yaml.safe_load(DEFAULT_CATALOGUE.read_text(encoding="utf-8"))
    examples = yaml.safe_load((ROOT / "experiments" / "metrics.yaml").read_text("utf-8"))
    for name, definition in examples["metrics"].items():
        assert shipped["metrics"][name] == definition


def test_init_without_input_writes_a_valid_spec_and_catalogue(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "cafe"
    code = main(
        [
            "init", str(folder), "--no-input", "--id", "cake", "--name", "Cake add-on",
            "--tactic", "cross_sell", "--lever", "wording",
            "--variant", "generic=ケーキもいかがですか?",
            "--variant", 'pairing=A cheesecake "made" for: this coffee',
            "--daily-units", "40", "--baseline", "0.2", "--start", "2026-03-02", "--days", "27",
        ]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    assert (folder / "metrics.yaml").read_text("utf-8") == DEFAULT_CATALOGUE.read_text("utf-8")
    assert validate_paths([folder]) == []
    experiment = load_experiment(folder / "cake.yaml").experiment
    assert [v.id for v in experiment.variants] == ["generic", "pairing"]
    assert experiment.control.id == "generic"
    assert [v.weight for v in experiment.variants] == [0.5, 0.5]
    offer = experiment.variants[1].offer
    assert offer is not None and offer.wording == 'A cheesecake "made" for: this coffee'
    assert experiment.variants[0].offer.wording == "ケーキもいかがですか?"  # type: ignore[union-attr]
    assert str(experiment.end) == "2026-03-29"
    assert experiment.analysis.daily_units == 40
    text = (folder / "cake.yaml").read_text("utf-8")
    assert text.count("#") >= 10  # commented
    assert "wrote " in out and "Plan for cake" in out


def test_init_keeps_an_existing_catalogue_and_refuses_to_overwrite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "metrics.yaml").write_text(
        "metrics:\n  takes: {type: proportion, event: upsell_purchase}\n", encoding="utf-8"
    )
    argv = ["init", str(tmp_path), "--no-input", "--primary", "takes", "--lever", "discount"]
    assert main(argv) == 0
    assert "takes:" in (tmp_path / "metrics.yaml").read_text("utf-8")
    spec = load_experiment(tmp_path / "discount_test.yaml").experiment
    assert spec.metrics.primary == "takes"
    assert spec.variants[1].offer.discount.percent == 10  # type: ignore[union-attr]
    capsys.readouterr()
    assert main(argv) == 1
    assert "already exists" in capsys.readouterr().err


def test_init_discount_decides_on_profit(tmp_path: Path) -> None:
    argv = ["init", str(tmp_path), "--no-input", "--lever", "discount", "--id", "d",
            "--variant", "none=none", "--variant", "ten=10%", "--variant", "yen=200"]  # fmt: skip
    assert main(argv) == 0
    spec = load_experiment(tmp_path / "d.yaml").experiment
    assert spec.analysis.decision.metric == "profit_per_customer"
    assert spec.variants[2].offer.discount.amount == 200  # type: ignore[union-attr]
    assert sum(v.weight for v in spec.variants) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("variant", "message"),
    [
        ("nodash", "cannot read 'nodash'"),
        ("a=15 percent", "write a discount as none, 10% (percent off) or 200 (amount off)"),
    ],
)
def test_init_refuses_unreadable_variants(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], variant: str, message: str
) -> None:
    argv = ["init", str(tmp_path), "--no-input", "--lever", "discount",
            "--variant", "c=none", "--variant", variant]  # fmt: skip
    assert main(argv) == 1
    assert message in capsys.readouterr().err
    assert not list(tmp_path.glob("*.yaml*"))


def test_init_asks_in_a_terminal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    answers = "\n".join(
        [
            "upsell",  # tactic
            "price",  # not a lever: asked again
            "timing",
            "now=at_checkout",
            "later=follow_up_email:3d",
            "",  # no more variants
            "",  # default primary metric
            "timing_cafe",
            "",  # default name
            "40",
        ]
    )
    stdin = io.StringIO(answers + "\n")
    stdin.isatty = lambda: True  # type: ignore[method-assign]
    monkeypatch.setattr("sys.stdin", stdin)
    assert main(["init", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert "'price' is not one of: timing, wording, discount" in captured.err
    spec = load_experiment(tmp_path / "timing_cafe.yaml").experiment
    later = spec.variants[1].offer
    assert later is not None and later.timing is not None
    assert later.timing.moment.value == "follow_up_email"
    assert later.timing.delay is not None and later.timing.delay.days == 3
    assert spec.metrics.primary == "upsell_take_rate"
    assert spec.analysis.daily_units == 40
