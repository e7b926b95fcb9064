"""Timestamp columns -> UTC, stored naive (the store's one rule for time).

Accepted: ISO 8601 strings (date, date-time, optional fraction, optional
``Z``/``+hh:mm`` offset), epoch seconds (integer or decimal, as text or a
numeric column), and datetime columns of a DataFrame/Parquet file.

The rule: a value that carries an offset or a time zone is converted to UTC.
A *naive* value (no offset) is taken as UTC, or as local time in
``timezone`` (an IANA name such as ``Asia/Tokyo``) when one is given. Local
times that do not exist or are ambiguous because of a daylight-saving change
are refused (give an offset for those rows). Epoch numbers are always UTC;
values above 1e11 are refused as probable milliseconds. Timestamps outside
[1900, 2200) are refused as implausible.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from upsell_ab.errors import InputError, Location, Problem

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    import numpy as np
    import pandas as pd

EPOCH_MS_THRESHOLD = 1e11
"""Epoch seconds above this (year 5138) are almost surely milliseconds."""

_EPOCH_RE = r"[+-]?\d+(?:\.\d+)?"
_OFFSET_RE = r"\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(?:[zZ]|UTC|[+-]\d{2}(?::?\d{2})?)$"


@dataclass(frozen=True)
class ParsedTimestamps:
    """UTC-naive ``datetime64[us]`` values and, per kind of problem, a row mask."""

    values: np.ndarray
    problems: list[tuple[str, np.ndarray, str]] = field(default_factory=list)
    """(message, mask of offending rows, fix hint)."""


def resolve_timezone(name: str | None) -> ZoneInfo | None:
    """IANA zone for naive timestamps (None = UTC); a located error for unknown names."""
    if name is None:
        return None
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InputError(
            [
                Problem(
                    Location(field="--timezone"),
                    f"unknown time zone {name!r}",
                    "use an IANA name such as 'Asia/Tokyo' or 'Europe/Berlin'",
                    "bad_timezone",
                )
            ]
        ) from None


def parse_timestamps(column: pd.Series, tz: ZoneInfo | None) -> ParsedTimestamps:
    """Vectorised parse of one column (see the module docstring for the rule)."""
    import numpy as np
    import pandas as pd

    n = len(column)
    problems: list[tuple[str, np.ndarray, str]] = []
    dtype = column.dtype
    if isinstance(dtype, pd.DatetimeTZDtype) or (
        pd.api.types.is_datetime64_any_dtype(dtype) and getattr(dtype, "tz", None) is not None
    ):
        values = _naive_utc(pd.to_datetime(column, utc=True))
        ambiguous = np.zeros(n, dtype=bool)
    elif pd.api.types.is_datetime64_any_dtype(dtype):
        values, ambiguous = _localise(pd.to_datetime(column), tz)
    elif pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
        seconds = column.to_numpy(dtype=float, na_value=np.nan)
        values, too_big = _from_epoch(seconds)
        problems.append(_ms_problem(too_big))
        ambiguous = np.zeros(n, dtype=bool)
    else:
        return _parse_text(column, tz)
    empty = np.isnat(values) & ~ambiguous
    problems.append(("empty timestamp", empty, "every row needs a timestamp"))
    problems.append(_dst_problem(ambiguous, tz))
    problems.append(_range_problem(values))
    return ParsedTimestamps(values, [p for p in problems if p[1].any()])


def _parse_text(column: pd.Series, tz: ZoneInfo | None) -> ParsedTimestamps:
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    n = len(column)
    text = column.astype(pd.ArrowDtype(pa.string())).str.strip()
    empty = (text.isna() | (text == "")).to_numpy(dtype=bool)
    epoch = text.str.fullmatch(_EPOCH_RE).fillna(False).to_numpy(dtype=bool) & ~empty
    values = np.full(n, np.datetime64("NaT"), dtype="datetime64[us]")
    ambiguous = np.zeros(n, dtype=bool)
    too_big = np.zeros(n, dtype=bool)
    if epoch.any():
        seconds = pd.to_numeric(text[epoch], errors="coerce").to_numpy(dtype=float)
        values[epoch], too_big[epoch] = _from_epoch(seconds)
    iso = ~epoch & ~empty
    if iso.any():
        if tz is None:
            values[iso] = _naive_utc(
                pd.to_datetime(text[iso], format="ISO8601", utc=True, errors="coerce")
            )
        else:
            has_offset = text[iso].str.contains(_OFFSET_RE).fillna(False).to_numpy(dtype=bool)
            aware = iso.copy()
            aware[iso] = has_offset
            naive = iso & ~aware
            if aware.any():
                values[aware] = _naive_utc(
                    pd.to_datetime(text[aware], format="ISO8601", utc=True, errors="coerce")
                )
            if naive.any():
                local = pd.to_datetime(text[naive], format="ISO8601", errors="coerce")
                values[naive], ambiguous[naive] = _localise(local, tz)
    bad = np.isnat(values) & ~empty & ~ambiguous & ~too_big
    problems = [
        ("empty timestamp", empty, "every row needs a timestamp"),
        (
            "unparsable timestamp",
            bad,
            "use ISO 8601 such as 2024-05-01T09:30:00+09:00, or epoch seconds",
        ),
        _ms_problem(too_big),
        _dst_problem(ambiguous, tz),
        _range_problem(values),
    ]
    return ParsedTimestamps(values, [p for p in problems if p[1].any()])


def _naive_utc(series: pd.Series) -> np.ndarray:
    """Aware series -> UTC naive datetime64[us] numpy array."""
    return series.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(dtype="datetime64[us]")


def _localise(series: pd.Series, tz: ZoneInfo | None) -> tuple[np.ndarray, np.ndarray]:
    """Naive series -> (UTC naive values, mask of DST-ambiguous/nonexistent rows)."""
    import numpy as np

    if tz is None:
        return series.to_numpy(dtype="datetime64[us]"), np.zeros(len(series), dtype=bool)
    localised = series.dt.tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
    ambiguous = (localised.isna() & series.notna()).to_numpy(dtype=bool)
    return _naive_utc(localised), ambiguous


def _from_epoch(seconds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Epoch seconds -> datetime64[us]; values beyond the threshold flagged, left NaT."""
    import numpy as np

    with np.errstate(invalid="ignore"):
        too_big = np.abs(seconds) > EPOCH_MS_THRESHOLD
    usable = np.isfinite(seconds) & ~too_big
    micros = np.zeros(len(seconds), dtype=np.int64)
    micros[usable] = np.round(seconds[usable] * 1e6).astype(np.int64)
    values = micros.astype("datetime64[us]")
    values[~usable] = np.datetime64("NaT")
    return values, too_big


def _ms_problem(mask: np.ndarray) -> tuple[str, np.ndarray, str]:
    return (
        "epoch value too large for seconds",
        mask,
        "epoch timestamps must be in seconds; divide milliseconds by 1000",
    )


def _dst_problem(mask: np.ndarray, tz: ZoneInfo | None) -> tuple[str, np.ndarray, str]:
    return (
        f"local time does not exist or is ambiguous in {tz} (daylight-saving change)",
        mask,
        "write this timestamp with its UTC offset, e.g. 2024-03-31T02:30:00+01:00",
    )


def _range_problem(values: np.ndarray) -> tuple[str, np.ndarray, str]:
    import numpy as np

    low, high = np.datetime64("1900-01-01", "us"), np.datetime64("2200-01-01", "us")
    valid = ~np.isnat(values)
    mask = np.zeros(len(values), dtype=bool)
    mask[valid] = (values[valid] < low) | (values[valid] >= high)
    return (
        "implausible timestamp (before 1900 or after 2200)",
        mask,
        "check the year and that epoch values are seconds",
    )
