"""Problem codes of spec validation, in one place (documented in docs/spec.md, kept in
sync by a test, following pydantic's single list of error codes)."""

from __future__ import annotations

PROBLEM_CODES: dict[str, str] = {
    "yaml_syntax": "the file is not valid YAML (or holds several documents)",
    "yaml_trap": "a plain value YAML 1.1 and 1.2 read differently (no, on, 012, 1:30, 1_000)",
    "yaml_tag": "an explicit tag (!!int, !!python/...) other than !!str",
    "yaml_key": "a merge key (<<) or a non-text key",
    "yaml_alias": "a YAML anchor (&name) or alias (*name); specs write values out",
    "too_large": "a file over 1 MiB or nested deeper than 64 levels",
    "duplicate_key": "the same key twice in one mapping",
    "empty": "the file has no content",
    "invalid_date": "a date that does not exist (2026-02-30)",
    "encoding": "the file is not UTF-8",
    "not_found": "a path that does not exist or cannot be read",
    "unknown_key": "a key the model does not have (with 'did you mean')",
    "missing": "a required key is absent",
    "invalid_choice": "a value outside an enumeration (with 'did you mean')",
    "invalid_value": "a value of the wrong type or outside its range",
    "scale": "a relative MDE or margin above 1, almost surely a percentage (5 meant 5 %)",
    "cross_field": "a rule over several fields (weights, controls, dates, discounts ...)",
    "duplicate_id": "a variant id or experiment id used twice",
    "unknown_variant": "an override forcing a variant the spec does not have",
    "unknown_metric": "a metric name that is not in the catalogue",
    "unknown_column": "a files source maps a column its CSV/Parquet files do not have",
    "column_type": "a files source's column has a type the analysis cannot use (text timestamps)",
    "unreadable": "a files source's files exist but cannot be read as CSV/Parquet",
    "namespace_overlap": "two experiments of one folder share a namespace with overlapping ranges",
    "concluded": "a concluded spec without its result record, or edited after it was concluded",
    "assignment_changed": "validate --against: an edit that moves units already assigned",
    "against": "validate --against: the git revision cannot be read (unknown, no repository)",
}
