"""The experiment a script holds: a spec resolved against its metric catalogue.

:func:`load` reads a YAML spec (the catalogue ``metrics.yaml`` is found next to
it or in a parent folder); :func:`define` builds the same thing from a dict or
keyword arguments, validated by the same models with the same messages (the
locations are field paths such as ``variants[1].weight``). An
:class:`Experiment` assigns units (GrowthBook-compatible, identical to the
``assign`` command) and analyses data in any of the forms listed in
:meth:`Experiment.analyze`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from upsell_ab.errors import InputError, Location, Problem, SpecError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from upsell_ab.api.result import Result
    from upsell_ab.assignment.assigner import Assigner, Assignment
    from upsell_ab.spec.holdout_models import Holdout
    from upsell_ab.spec.models import Catalogue, MetricDefinition
    from upsell_ab.spec.models import Experiment as Spec
    from upsell_ab.spec.resolve import ResolvedExperiment
    from upsell_ab.workflow import Step

PYTHON_SOURCE = "<python>"
"""The ``file`` of problems found in a spec defined in Python (shown as field paths only)."""

SCHEMA_COMMENT = "# yaml-language-server: $schema={schema}\n"


class Experiment:
    """An experiment spec with its metrics looked up in the catalogue.

    Build one with :func:`load` (a YAML file) or :func:`define` (Python values).

    Example:
        >>> import upsell_ab
        >>> exp = upsell_ab.load("experiments/cake_wording.yaml")
        >>> exp.id, exp.variants, exp.control
        ('cake_wording', ['generic', 'pairing'], 'generic')
        >>> exp.primary_metric
        'upsell_take_rate'
    """

    def __init__(self, resolved: ResolvedExperiment) -> None:
        self.resolved = resolved
        """The validated spec and its catalogue metrics (the internal form every stage reads)."""

    # ------------------------------------------------------------------ identity
    @property
    def spec(self) -> Spec:
        """The validated spec model (frozen pydantic)."""
        return self.resolved.experiment

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def variants(self) -> list[str]:
        """Variant ids in spec order (the control among them)."""
        return [v.id for v in self.spec.variants]

    @property
    def control(self) -> str:
        return self.spec.control.id

    @property
    def primary_metric(self) -> str:
        return self.resolved.primary_metric

    @property
    def metrics(self) -> dict[str, MetricDefinition]:
        """Every metric the experiment uses (primary, secondary, guardrails, decision),
        with its catalogue definition."""
        return dict(self.resolved.metrics)

    def __repr__(self) -> str:
        variants = ", ".join(self.variants)
        return f"<Experiment {self.id!r}: {variants}; primary {self.primary_metric}>"

    # ---------------------------------------------------------------- assignment
    @cached_property
    def _assigner(self) -> Assigner:
        """The spec's assigner, with the programme's long-term holdout when a
        ``program.yaml`` sits next to (or above) the spec file."""
        from upsell_ab.assignment.assigner import Assigner

        return Assigner(self.spec, holdout=self.holdout)

    @cached_property
    def holdout(self) -> Holdout | None:
        """The long-term holdout this experiment obeys (``program.yaml``), or None."""
        from upsell_ab.spec.program import holdout_of

        return holdout_of(self.resolved.source_file)

    def assign(self, unit_id: str, attributes: Mapping[str, object] | None = None) -> Assignment:
        """The variant of one unit (``attributes`` feed the targeting conditions).

        The same answer as ``upsell-ab assign`` and any GrowthBook SDK given the
        same seed and weights.

        Example:
            >>> import upsell_ab
            >>> exp = upsell_ab.load("experiments/cake_wording.yaml")
            >>> a = exp.assign("c-123", {"channel": "app"})
            >>> a.in_experiment, a.variant in exp.variants
            (True, True)
            >>> exp.assign("c-123", {"channel": "web"}).reason.value
            'targeting'
        """
        self._not_switchback("assign")
        return self._assigner.assign(unit_id, attributes)

    def assign_many(
        self,
        unit_ids: Sequence[str] | np.ndarray | pd.Series,
        attributes: pd.DataFrame | None = None,
    ) -> np.ndarray:
        """Variant id per unit (object array, None where not in the experiment), identical
        to calling :meth:`assign` on each, at millions of ids per second.

        Example:
            >>> import pandas as pd, upsell_ab
            >>> exp = upsell_ab.load("experiments/cake_wording.yaml")
            >>> ids = ["c-1", "c-2", "c-3"]
            >>> attrs = pd.DataFrame({"channel": ["app", "web", "in_store"]})
            >>> got = exp.assign_many(ids, attrs)
            >>> list(got) == [exp.assign(i, {"channel": c}).variant
            ...               for i, c in zip(ids, attrs["channel"])]
            True
        """
        self._not_switchback("assign_many")
        absent = sorted(
            {
                condition.attribute
                for condition in self.spec.population.targeting
                if attributes is None or condition.attribute not in attributes.columns
            }
        )
        if not absent:
            return self._assigner.assign_many(unit_ids, attributes)
        bulk = self._assigner.assign_many_with_reasons(unit_ids, attributes)
        _warn_absent_targeting(absent, bulk.reason_names())
        return bulk.variants

    def assign_at(self, at: datetime) -> Assignment:
        """Switchback specs (``randomization.unit: time_slot``): the arm of the time slot
        holding ``at`` (an aware time is converted to the shop's time zone, a naive one is
        read as the shop's local time), as ``upsell-ab assign SPEC --at`` prints it: the
        slot key hashed as the unit id (docs/switchback.md)."""
        from upsell_ab.assignment.assigner import Assigner
        from upsell_ab.assignment.switchback import assign_at

        randomization = self.spec.randomization
        if not randomization.is_switchback:
            raise InputError(
                [
                    Problem(
                        Location(field="randomization.unit"),
                        "assign_at is for switchback specs (randomization.unit: time_slot)",
                        hint="give the unit id to assign(unit_id)",
                        code="usage",
                    )
                ]
            )
        return assign_at(Assigner(self.spec), randomization.clock(), at)

    def _not_switchback(self, method: str) -> None:
        """A switchback spec hashes time slots: a customer id would be randomised wrongly."""
        if self.spec.randomization.is_switchback:
            raise InputError(
                [
                    Problem(
                        Location(field="randomization.unit"),
                        f"{method}: this spec randomises time slots (randomization.unit: "
                        "time_slot), not units",
                        hint="use assign_at(time) for the arm of the slot holding that time",
                        code="usage",
                    )
                ]
            )

    # ------------------------------------------------------------------ analysis
    def analyze(
        self,
        data: Any = None,
        *,
        exposures: Any = None,
        events: Any = None,
        covariates: Mapping[str, str] | None = None,
        segments: bool = False,
        daily: bool = True,
        step: Step | None = None,
    ) -> Result:
        """Compute, test and decide; returns a :class:`~upsell_ab.api.result.Result`.

        ``data`` may be (see the user guide, "Data in any form"):

        - nothing: the spec's own source (its DuckDB store, files, PostgreSQL or Spark);
        - a DuckDB store path (``.duckdb``/``.db``);
        - ``exposures=`` and ``events=`` (or ``data=(exposures, events)``), each a pandas
          DataFrame, a pyarrow Table, a CSV/Parquet path or glob, or a DuckDB relation:
          read in place by DuckDB (nothing is copied into a store, no file is written);
        - a DuckDB connection, psycopg connection or SparkSession holding the spec's tables;
        - an aggregate summary: per-variant counts and sums as a DataFrame, a list of
          dicts or a CSV path with the columns ``variant, metric, n, sum[, sum_squares, ...]``.

        ``covariates`` turns on CUPED from columns you already have: metric name ->
        exposure column holding each unit's pre-period value (``{"revenue_per_customer":
        "pre_revenue"}``), on top of the spec's ``data.covariates``; the reports then say
        that CUPED was applied and how much variance it removed. ``segments`` adds the
        per-segment breakdown; ``daily`` the per-day cumulative lifts (raw data only).
        """
        from upsell_ab.api.inputs import experiment_data
        from upsell_ab.api.result import Result
        from upsell_ab.workflow import run_on_data

        def quiet(_: str) -> None:
            return None

        progress = step or quiet
        resolved = self.resolved
        if covariates:
            from upsell_ab.spec.resolve import with_covariates

            resolved = with_covariates(resolved, covariates)
        computed, from_rows = experiment_data(
            resolved,
            data,
            exposures=exposures,
            events=events,
            segments=segments,
            daily=daily,
            step=progress,
        )
        run = run_on_data(resolved, computed, daily=daily and from_rows, step=progress)
        return Result(run)

    # ---------------------------------------------------------------- round trip
    def to_dict(self) -> dict[str, Any]:
        """The spec as plain values: what was given (defaults left out), durations as "7d"."""
        return self.spec.model_dump(mode="json", by_alias=True, exclude_unset=True)

    def to_yaml(self, path: str | Path | None = None, *, schema: str | None = None) -> str:
        """The YAML spec this experiment corresponds to (written to ``path`` when given).

        Loading the text back gives an equal spec. ``schema`` adds the editor's
        ``$schema`` comment line (e.g. ``../schema/experiment.schema.json``).

        Example:
            >>> import upsell_ab
            >>> exp = upsell_ab.load("experiments/cake_wording.yaml")
            >>> print(exp.to_yaml().splitlines()[0])
            id: cake_wording
        """
        import yaml

        text = yaml.safe_dump(
            self.to_dict(), sort_keys=False, allow_unicode=True, default_flow_style=False
        )
        if schema:
            text = SCHEMA_COMMENT.format(schema=schema) + text
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text


def load(path: str | Path, *, catalogue: str | Path | None = None) -> Experiment:
    """Load and validate a YAML spec; metrics come from ``catalogue`` or the nearest
    ``metrics.yaml`` (the spec's folder, then its parents).

    Raises :class:`~upsell_ab.errors.SpecError` listing every problem as
    ``FILE:LINE:COL: field.path: message (how to fix)``.

    Example:
        >>> import upsell_ab
        >>> upsell_ab.load("experiments/cake_wording.yaml")
        <Experiment 'cake_wording': generic, pairing; primary upsell_take_rate>
    """
    from upsell_ab.spec.load import load_experiment

    return Experiment(load_experiment(path, catalogue))


def _python_problems(problems: Sequence[Problem], prefix: str = "") -> list[Problem]:
    """Problems of Python values: the field path is the location (no file, line or column)."""
    out = []
    for p in problems:
        field = p.location.field
        if prefix:
            field = f"{prefix}.{field}" if field else prefix
        location = p.location if p.location.file not in (PYTHON_SOURCE, None) else None
        out.append(Problem(location or Location(field=field), p.message, p.hint, p.code))
    return out


def _catalogue(catalogue: Any) -> tuple[Catalogue, Path | None]:
    from upsell_ab.spec.load import Parsed, check_document, find_catalogue, load_catalogue
    from upsell_ab.spec.models import Catalogue
    from upsell_ab.spec.yaml_marks import MarkedDocument

    if isinstance(catalogue, Catalogue):
        return catalogue, None
    if isinstance(catalogue, Mapping):
        value = dict(catalogue) if "metrics" in catalogue else {"metrics": dict(catalogue)}
        parsed = check_document(Parsed(Path(PYTHON_SOURCE), MarkedDocument(value)), Catalogue)
        if parsed.problems:
            raise SpecError(_python_problems(parsed.problems, "catalogue"))
        model: Catalogue = parsed.model
        return model, None
    path = Path(catalogue) if catalogue is not None else find_catalogue(Path.cwd())
    return load_catalogue(path), path


def define(
    spec: Mapping[str, Any] | None = None,
    /,
    *,
    catalogue: str | Path | Mapping[str, Any] | Catalogue | None = None,
    **fields: Any,
) -> Experiment:
    """An experiment from Python values: a dict shaped like the YAML spec, keyword
    arguments, or both (keywords win). Validated by the same models as a file; every
    problem is reported at once with its field path.

    ``catalogue``: a ``metrics.yaml`` path, a dict of metric definitions, or None for
    the nearest ``metrics.yaml`` from the current folder up.

    Example:
        >>> import upsell_ab
        >>> exp = upsell_ab.define(
        ...     id="note_test", name="Thank-you note offer", status="running",
        ...     population={"unit": "customer_id"},
        ...     variants=[{"id": "plain", "weight": 0.5, "control": True},
        ...               {"id": "note", "weight": 0.5}],
        ...     metrics={"primary": "upsell_take_rate"},
        ...     catalogue={"upsell_take_rate": {"type": "proportion", "event": "upsell_purchase"}},
        ... )
        >>> exp.variants
        ['plain', 'note']
        >>> try:
        ...     upsell_ab.define(exp.to_dict(), status="paused", catalogue=exp.metrics)
        ... except upsell_ab.SpecError as error:
        ...     print(error)  # doctest: +ELLIPSIS
        status: 'paused' is not one of: draft, running, stopped, concluded (...)
    """
    from upsell_ab.spec.load import Parsed, check_document, check_references
    from upsell_ab.spec.models import Experiment as Spec
    from upsell_ab.spec.resolve import resolve
    from upsell_ab.spec.yaml_marks import MarkedDocument

    value = {**(dict(spec) if spec is not None else {}), **fields}
    parsed = check_document(Parsed(Path(PYTHON_SOURCE), MarkedDocument(value)), Spec)
    try:
        model, catalogue_file = _catalogue(catalogue)
    except SpecError as error:
        raise SpecError(
            sorted_problems([*_python_problems(parsed.problems), *error.problems])
        ) from None
    check_references(parsed, model)
    if parsed.problems:
        raise SpecError(sorted_problems(_python_problems(parsed.problems)))
    return Experiment(resolve(parsed.model, model, catalogue_file=catalogue_file))


def sorted_problems(problems: Sequence[Problem]) -> list[Problem]:
    from upsell_ab.spec.locate import sorted_unique

    return sorted_unique(problems)


def _warn_absent_targeting(absent: list[str], reasons: Any) -> None:
    """A targeting attribute with no column in ``attributes`` is missing for every unit:
    the units then fail the targeting and come back None, which looks like an assignment
    that silently did nothing (a script's first call is often ``assign_many(ids)``)."""
    import warnings

    failed = int((reasons == "targeting").sum())
    if failed == 0:
        return
    names = ", ".join(repr(name) for name in absent)
    warnings.warn(
        f"assign_many: {failed:,} of {len(reasons):,} units failed the targeting because "
        f"attributes has no column {names}; they are outside the experiment (None). Pass "
        "their attributes: assign_many(ids, attributes=DataFrame with one row per id)",
        UserWarning,
        stacklevel=3,
    )
