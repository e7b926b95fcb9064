"""`upsell-ab learn --comparisons FILE.csv` (issue 15 part 2).

Oracles: metafor's published results on the BCG vaccine trials (Colditz et al. 1994;
``dat.bcg`` log risk ratios: REML tau^2 0.3132, estimate -0.7145, I^2 92.22 %; DL tau^2
0.3088, estimate -0.7141, CI (-1.0644, -0.3638), I^2 92.1173 %; FE -0.4303), and
statsmodels' ``combine_effects`` for DL with and without the Hartung-Knapp interval, per
lever value with ``--by``. Bad files give located problems and exit 1, never a traceback.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
from statsmodels.stats.meta_analysis import combine_effects

from tests.test_stats_meta_analysis import BCG, _bcg_log_rr


def _run(argv: list[str]) -> tuple[int, str, str]:
    from upsell_ab.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture()
def bcg(tmp_path: Path) -> Path:
    """The 13 BCG trials as comparisons, half of them tagged with a made-up lever."""
    y, v = _bcg_log_rr()
    lines = ["experiment,allocation,metric,estimate,variance,n_control,n_treatment"]
    for i, (estimate, variance, (a, b, c, d)) in enumerate(zip(y, v, BCG, strict=True)):
        group = "random" if i % 2 == 0 else "alternate"
        lines.append(f"trial {i + 1},{group},log_rr,{estimate!r},{variance!r},{c + d},{a + b}")
    path = tmp_path / "bcg.csv"
    path.write_text("\n".join(lines) + "\n", "utf-8")
    return path


def test_bcg_reml_dl_and_fe_reproduce_metafor(bcg: Path) -> None:
    code, out, _ = _run(["learn", "--comparisons", str(bcg), "--format", "json"])
    assert code == 0
    reml = json.loads(out)
    assert round(reml["tau2"], 4) == 0.3132
    assert round(reml["estimate"], 4) == -0.7145
    assert round(100 * reml["i2"], 2) == 92.22
    assert len(reml["weights"]) == 13 and math.isclose(sum(reml["weights"]), 1.0)
    low, high = reml["prediction_interval"]
    assert low < reml["ci"][0] < reml["ci"][1] < high
    dl = json.loads(
        _run(["learn", "--comparisons", str(bcg), "--method", "dl", "--format", "json"])[1]
    )
    assert round(dl["tau2"], 4) == 0.3088 and round(dl["estimate"], 4) == -0.7141
    assert [round(x, 4) for x in dl["ci"]] == [-1.0644, -0.3638]
    assert round(100 * dl["i2"], 4) == 92.1173
    fe = json.loads(
        _run(["learn", "--comparisons", str(bcg), "--method", "fe", "--format", "json"])[1]
    )
    assert round(fe["estimate"], 4) == -0.4303 and fe["prediction_interval"] is None


def test_by_lever_matches_statsmodels_per_group(bcg: Path) -> None:
    y, v = _bcg_log_rr()
    argv = ["learn", "--comparisons", str(bcg), "--by", "allocation", "--method", "dl"]
    for hksj in (False, True):
        code, out, _ = _run([*argv, "--format", "json", *(["--hksj"] if hksj else [])])
        assert code == 0
        document = json.loads(out)
        assert document["by"] == "allocation"
        groups = {g["value"]: g for g in document["groups"]}
        assert set(groups) == {"random", "alternate"}
        for value, parity in (("random", 0), ("alternate", 1)):
            ys = [e for i, e in enumerate(y) if i % 2 == parity]
            vs = [x for i, x in enumerate(v) if i % 2 == parity]
            oracle = combine_effects(np.asarray(ys), np.asarray(vs), method_re="dl", use_t=hksj)
            frame = oracle.summary_frame()
            row = "random effect wls" if hksj else "random effect"
            assert groups[value]["estimate"] == pytest.approx(frame.loc[row, "eff"], rel=1e-9)
            assert groups[value]["ci"] == pytest.approx(
                [frame.loc[row, "ci_low"], frame.loc[row, "ci_upp"]], rel=1e-9
            )
            assert groups[value]["tau2"] == pytest.approx(oracle.tau2, rel=1e-9)


def test_every_format_renders_and_escapes(bcg: Path, tmp_path: Path) -> None:
    hostile = tmp_path / "hostile.csv"
    text = bcg.read_text("utf-8").replace("trial 1,", "<script>alert(1)</script>,", 1)
    hostile.write_text(text, "utf-8")
    code, out, _ = _run(["learn", "--comparisons", str(hostile), "--format", "html"])
    assert code == 0 and "<script>alert" not in out and "&lt;script&gt;" in out
    assert out.count("<circle") == 13 + 2  # every trial, the pooled row, the prediction
    text_out = _run(["learn", "--comparisons", str(bcg)])[1]
    assert "pooled estimate -0.7145" in text_out and "prediction" in text_out
    markdown = _run(["learn", "--comparisons", str(bcg), "--format", "markdown"])[1]
    assert "| trial 1 |" in markdown and "I^2 92.2%" in markdown
    target = tmp_path / "out.json"
    assert _run(["learn", "--comparisons", str(bcg), "--format", "json", "-o", str(target)])[0] == 0
    assert json.loads(target.read_text("utf-8"))["k"] == 13


def test_bad_files_give_located_problems(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(
        "experiment,timing,metric,estimate,std_error\na,post,take,0.1,0.05\n",
        "utf-8",
    )
    code, _, err = _run(["learn", "--comparisons", str(path)])
    assert code == 1 and "Traceback" not in err
    assert "bad.csv:1: no column 'se or variance'" in err and "rename 'std_error' to 'se'" in err
    path.write_text(
        "experiment,timing,metric,estimate,se\n"
        "a,post,take,0.1,0.05\n"
        "b,post,take,ten,0.05\n"
        "c,post,take,0.2,-1\n"
        "d,post,take,0.2\n",
        "utf-8",
    )
    code, _, err = _run(["learn", "--comparisons", str(path)])
    assert code == 1
    assert "bad.csv:3:4" in err and "'ten' is not a number" in err
    assert "bad.csv:4:5" in err and "must be > 0" in err
    assert "bad.csv:5" in err and "4 fields for 5 columns" in err
    path.write_text(
        "experiment,timing,metric,estimate,se\na,post,take,0.1,0.05\nb,post,revenue,5,1\n",
        "utf-8",
    )
    code, _, err = _run(["learn", "--comparisons", str(path)])
    assert code == 1 and "several metrics (revenue, take)" in err and "--metric" in err
    code, _, err = _run(["learn", "--comparisons", str(path), "--metric", "take", "--by", "timng"])
    assert code == 1 and "did you mean 'timing'" in err
    code, _, err = _run(["learn", "--comparisons", str(tmp_path / "none.csv")])
    assert code == 1 and "no such file" in err


def test_repeated_experiments_and_single_rows_are_explained(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text(
        "experiment,timing,metric,estimate,se\n"
        "shop_a,post vs checkout,take,0.10,0.04\n"
        "shop_a,post vs checkout,take,0.14,0.05\n"
        "shop_b,post vs checkout,take,0.08,0.03\n"
        "shop_c,email vs checkout,take,-0.05,0.04\n",
        "utf-8",
    )
    code, out, _ = _run(["learn", "--comparisons", str(path), "--by", "timing"])
    assert code == 0
    assert "(shop_a) share a control and are correlated" in out
    assert "one comparison: nothing to pool" in out
    # one comparison has no heterogeneity to test: no Q p-value of 1, in text or JSON
    assert "Q not tested (one comparison)" in out
    code, out, _ = _run(["learn", "--comparisons", str(path), "--by", "timing", "--format", "json"])
    single = [p for p in json.loads(out)["groups"] if p["k"] == 1]
    assert single and all(p["q_p_value"] is None for p in single)


def test_a_pasted_copy_and_a_decimal_comma_are_refused(tmp_path: Path) -> None:
    """A row repeated in every field would get twice the weight; a quoted "0,18" was read
    as 18 (the comma dropped as a thousands mark). Two arms of one experiment differ in
    their estimates and stay accepted (above)."""
    path = tmp_path / "c.csv"
    path.write_text(
        "experiment,metric,estimate,se\na,m,0.10,0.05\nb,m,0.02,0.03\na,m,0.10,0.05\n",
        "utf-8",
    )
    code, _, err = _run(["learn", "--comparisons", str(path)])
    assert code == 1 and "c.csv:4: repeats line 2 (experiment a" in err
    path.write_text(
        'experiment,metric,estimate,se\na,m,"0,18",0.05\nb,m,0.02,0.03\nc,m,"1,200",900\n',
        "utf-8",
    )
    code, _, err = _run(["learn", "--comparisons", str(path)])
    assert code == 1 and "c.csv:2:3" in err and "'0,18' has a decimal comma" in err
    assert "'0.18'" in err and "c.csv:4" not in err  # 1,200 groups thousands
