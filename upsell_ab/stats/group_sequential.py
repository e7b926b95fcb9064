"""Group-sequential boundaries for K planned looks (two-sided, symmetric).

At look k with information fraction t_k the standardised statistic Z_k is
compared with a bound c_k; the trial stops at the first |Z_k| >= c_k. Under
H0 (drift delta = 0) W(t) = Z(t) sqrt(t) is a Brownian motion, so Z_k given
Z_{k-1} = u is normal with mean (u sqrt(t_{k-1}) + delta (t_k - t_{k-1})) / sqrt(t_k)
and variance (t_k - t_{k-1}) / t_k. Crossing probabilities follow by recursive
numerical integration of the sub-density of paths still running (Armitage,
McPherson & Rowe 1969; Jennison & Turnbull 2000, "Group Sequential Methods
with Applications to Clinical Trials", ch. 19), here with composite
Gauss-Legendre nodes on the continuation interval.

Designs:

- Classical constant boundaries (Jennison & Turnbull ch. 2): Pocock, c_k = c;
  O'Brien-Fleming, c_k = c sqrt(K / k) (c sqrt(1 / t_k) for unequal looks),
  with c solved so the total two-sided crossing probability is alpha.
  K = 5, alpha = .05: Pocock 2.413; O'Brien-Fleming final bound 2.040.
- Lan-DeMets alpha spending (Lan & DeMets 1983, Biometrika 70:659): bound k
  spends alpha(t_k) - alpha(t_{k-1}). Spending functions, per side with
  alpha/2 each (the convention of gsDesign ``sfLDOF``/``sfLDPocock`` and rpact
  ``asOF``/``asP``):
    O'Brien-Fleming type  alpha(t) = 2 (2 - 2 Phi(z_{1-alpha/4} / sqrt(t)))
    Pocock type           alpha(t) = alpha ln(1 + (e - 1) t)
  K = 5, alpha = .05 two-sided (.025 a side): OBF-type 4.877, 3.357, 2.680,
  2.290, 2.031; Pocock-type 2.438, 2.427, 2.410, 2.397, 2.391.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from upsell_ab.errors import StatsError
from upsell_ab.stats.results import SequentialStatus

FloatArray = npt.NDArray[np.float64]

_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(12)
_GL_NODES.setflags(write=False)
_GL_WEIGHTS.setflags(write=False)
_PANELS = 24
_SPAN = 10.0
"""Continuation intervals are cut to |z - E[z]| <= 10 sd: mass beyond is < 1e-22."""


class BoundaryKind(StrEnum):
    pocock = "pocock"
    obrien_fleming = "obrien_fleming"
    spending_pocock = "spending_pocock"
    spending_obrien_fleming = "spending_obrien_fleming"


@dataclass(frozen=True)
class GroupSequentialDesign:
    """Two-sided symmetric boundaries: stop at look k when |Z_k| >= bounds[k]."""

    kind: BoundaryKind
    alpha: float
    information_fractions: tuple[float, ...]
    bounds: tuple[float, ...]
    cumulative_alpha: tuple[float, ...]
    """Total two-sided crossing probability under H0 up to and including each look."""

    @property
    def looks(self) -> int:
        return len(self.bounds)

    @property
    def nominal_p_values(self) -> tuple[float, ...]:
        """Two-sided fixed-sample p-value that each bound corresponds to."""
        return tuple(math.erfc(c / math.sqrt(2.0)) for c in self.bounds)


# ------------------------------------------------------------ spending functions
def obrien_fleming_spending(t: float, alpha: float) -> float:
    """Lan-DeMets O'Brien-Fleming-type alpha spent by fraction t (two-sided total,
    alpha/2 a side): 2 (2 - 2 Phi(z_{1-alpha/4} / sqrt(t)))."""
    from scipy.special import ndtr, ndtri

    if t <= 0.0:
        return 0.0
    z = float(ndtri(1.0 - alpha / 4.0))
    return float(4.0 * ndtr(-z / math.sqrt(min(t, 1.0))))


def pocock_spending(t: float, alpha: float) -> float:
    """Lan-DeMets Pocock-type alpha spent by fraction t: alpha ln(1 + (e - 1) t)."""
    if t <= 0.0:
        return 0.0
    return alpha * math.log(1.0 + (math.e - 1.0) * min(t, 1.0))


# ------------------------------------------------------- recursive integration
def _fractions(looks: int, information_fractions: Sequence[float] | None) -> tuple[float, ...]:
    if looks < 1:
        raise StatsError(f"looks must be >= 1, got {looks}")
    if information_fractions is None:
        return tuple((k + 1) / looks for k in range(looks))
    t = tuple(float(x) for x in information_fractions)
    if len(t) != looks:
        raise StatsError(f"{len(t)} information fractions given for {looks} looks")
    if any(not 0.0 <= a < b for a, b in zip((0.0, *t[:-1]), t, strict=True)) or t[-1] > 1.0 + 1e-12:
        raise StatsError(
            f"information fractions must increase within (0, 1], got {list(t)} "
            "(hint: share of the planned sample at each look, e.g. 0.2, 0.4, ... 1.0)"
        )
    return t


def _nodes(low: float, high: float) -> tuple[FloatArray, FloatArray]:
    edges = np.linspace(low, high, _PANELS + 1)
    half = 0.5 * np.diff(edges)
    mid = 0.5 * (edges[:-1] + edges[1:])
    nodes = (mid[:, None] + half[:, None] * _GL_NODES[None, :]).ravel()
    weights = (half[:, None] * _GL_WEIGHTS[None, :]).ravel()
    return nodes, weights


class _Recursion:
    """Sub-density of paths that have not stopped, look by look."""

    def __init__(self, fractions: Sequence[float], drift: float) -> None:
        self.t = fractions
        self.drift = drift
        self.nodes: FloatArray | None = None
        self.mass: FloatArray | None = None
        """Sub-density at the nodes times the quadrature weights."""

    def _transition(self, k: int) -> tuple[FloatArray, float]:
        """Conditional mean of Z_k at each previous node, and its sd."""
        t_prev, t_k = self.t[k - 1], self.t[k]
        delta = t_k - t_prev
        assert self.nodes is not None
        mean = (self.nodes * math.sqrt(t_prev) + self.drift * delta) / math.sqrt(t_k)
        return mean, math.sqrt(delta / t_k)

    def crossing(self, k: int, bound: float) -> float:
        """P(first |Z| >= bound at look k) given the stored sub-density of look k - 1."""
        from scipy.special import ndtr

        if k == 0:
            mean0 = self.drift * math.sqrt(self.t[0])
            return float(ndtr(-bound - mean0) + ndtr(mean0 - bound))
        assert self.mass is not None
        mean, sd = self._transition(k)
        tails = ndtr((-bound - mean) / sd) + ndtr((mean - bound) / sd)
        return float(np.dot(self.mass, tails))

    def advance(self, k: int, bound: float) -> None:
        """Store the sub-density of paths with |Z_k| < bound."""
        if k == 0:
            centre = self.drift * math.sqrt(self.t[0])
            low, high = max(-bound, centre - _SPAN), min(bound, centre + _SPAN)
            nodes, weights = _nodes(low, high)
            density = np.exp(-0.5 * (nodes - centre) ** 2) / math.sqrt(2.0 * math.pi)
        else:
            assert self.mass is not None
            mean, sd = self._transition(k)
            centre_low = float(mean.min()) - _SPAN * sd
            centre_high = float(mean.max()) + _SPAN * sd
            low, high = max(-bound, centre_low), min(bound, centre_high)
            nodes, weights = _nodes(low, high)
            kernel = np.exp(-0.5 * ((nodes[:, None] - mean[None, :]) / sd) ** 2)
            density = kernel @ self.mass / (sd * math.sqrt(2.0 * math.pi))
        self.nodes, self.mass = nodes, density * weights


def crossing_probabilities(
    bounds: Sequence[float],
    information_fractions: Sequence[float] | None = None,
    drift: float = 0.0,
) -> tuple[float, ...]:
    """P(the first crossing of |Z_k| >= bounds[k] happens at look k), k = 1..K.

    ``drift`` is E[Z] at full information (delta = theta sqrt(I_max)); 0 gives
    the type I error spent per look, a positive drift the power per look."""
    t = _fractions(len(bounds), information_fractions)
    recursion = _Recursion(t, drift)
    out: list[float] = []
    for k, bound in enumerate(bounds):
        out.append(recursion.crossing(k, bound))
        if k + 1 < len(bounds):
            recursion.advance(k, bound)
    return tuple(out)


# ------------------------------------------------------------------- designs
def classical_boundaries(
    looks: int,
    alpha: float = 0.05,
    kind: BoundaryKind | str = BoundaryKind.pocock,
    information_fractions: Sequence[float] | None = None,
) -> GroupSequentialDesign:
    """Pocock (constant) or O'Brien-Fleming (c / sqrt(t_k)) boundaries with total
    two-sided type I error ``alpha``."""
    from scipy.optimize import brentq

    kind = BoundaryKind(kind)
    if kind not in (BoundaryKind.pocock, BoundaryKind.obrien_fleming):
        raise StatsError(f"classical boundaries are pocock or obrien_fleming, not {kind}")
    _check_alpha(alpha)
    t = _fractions(looks, information_fractions)
    shape = [1.0 if kind is BoundaryKind.pocock else 1.0 / math.sqrt(x) for x in t]

    def excess(c: float) -> float:
        return sum(crossing_probabilities([c * s for s in shape], t)) - alpha

    c = brentq(excess, 0.5, 12.0, xtol=1e-10)
    bounds = tuple(c * s for s in shape)
    return GroupSequentialDesign(
        kind, alpha, t, bounds, tuple(np.cumsum(crossing_probabilities(bounds, t)).tolist())
    )


def spending_boundaries(
    looks: int,
    alpha: float = 0.05,
    kind: BoundaryKind | str = BoundaryKind.spending_obrien_fleming,
    information_fractions: Sequence[float] | None = None,
) -> GroupSequentialDesign:
    """Lan-DeMets alpha-spending boundaries: bound k is solved so that the
    crossing probability at look k equals alpha(t_k) - alpha(t_{k-1})."""
    from scipy.optimize import brentq
    from scipy.special import ndtri

    kind = BoundaryKind(kind)
    spend = {
        BoundaryKind.spending_obrien_fleming: obrien_fleming_spending,
        BoundaryKind.spending_pocock: pocock_spending,
    }.get(kind)
    if spend is None:
        raise StatsError(
            f"spending boundaries are spending_pocock or spending_obrien_fleming, not {kind}"
        )
    _check_alpha(alpha)
    t = _fractions(looks, information_fractions)
    recursion = _Recursion(t, 0.0)
    bounds: list[float] = []
    spent = 0.0
    for k, fraction in enumerate(t):
        target = spend(fraction, alpha) - spent
        if k == 0:
            bound = float(ndtri(1.0 - target / 2.0))
        else:
            bound = brentq(
                lambda c, k=k, target=target: recursion.crossing(k, c) - target,
                0.0,
                40.0,
                xtol=1e-12,
            )
        spent += recursion.crossing(k, bound)
        bounds.append(bound)
        if k + 1 < looks:
            recursion.advance(k, bound)
    return GroupSequentialDesign(
        kind, alpha, t, tuple(bounds), tuple(np.cumsum(crossing_probabilities(bounds, t)).tolist())
    )


def design(
    method: str,
    looks: int,
    alpha: float = 0.05,
    information_fractions: Sequence[float] | None = None,
) -> GroupSequentialDesign:
    """The spec's ``analysis.sequential.method`` ('pocock' or 'obrien_fleming')
    as Lan-DeMets spending boundaries, which stay valid when looks are not
    exactly where planned."""
    kinds = {
        "pocock": BoundaryKind.spending_pocock,
        "obrien_fleming": BoundaryKind.spending_obrien_fleming,
    }
    if method not in kinds:
        raise StatsError(
            f"unknown group-sequential method {method!r} (hint: pocock or obrien_fleming)"
        )
    return spending_boundaries(looks, alpha, kinds[method], information_fractions)


def _check_alpha(alpha: float) -> None:
    if not 0.0 < alpha < 1.0:
        raise StatsError(f"alpha must be in (0, 1), got {alpha}")


def check_look(
    z: float | None, look: int, plan: GroupSequentialDesign, final: bool | None = None
) -> SequentialStatus:
    """Whether the experiment may stop at ``look`` (1-based) given the observed z;
    ``final`` defaults to ``look == plan.looks``."""
    method = "pocock" if "pocock" in plan.kind.value else "obrien_fleming"
    if not 1 <= look <= plan.looks:
        raise StatsError(f"look must be in 1..{plan.looks}, got {look}")
    bound = plan.bounds[look - 1]
    share = plan.information_fractions[look - 1]
    label = (
        f"look {look} of {plan.looks}" if final is None else f"look {look} ({share:.0%} of plan)"
    )
    if z is None or not math.isfinite(z):
        return SequentialStatus(method, False, f"{label}: no test statistic yet")
    if abs(z) >= bound:
        return SequentialStatus(
            method, True, f"{label}: |z| = {abs(z):.3f} >= bound {bound:.3f}, may stop"
        )
    if final if final is not None else look == plan.looks:
        return SequentialStatus(
            method,
            True,
            f"final look {look}: |z| = {abs(z):.3f} < bound {bound:.3f}, no significant difference",
        )
    return SequentialStatus(
        method,
        False,
        f"{label}: |z| = {abs(z):.3f} < bound {bound:.3f}, continue",
    )


def monitor(
    z: float | None,
    information_fractions: Sequence[float],
    method: str = "obrien_fleming",
    alpha: float = 0.05,
) -> SequentialStatus:
    """Stopping verdict at the latest of the looks taken so far.

    ``information_fractions`` are the shares of the planned sample at every look
    up to now (e.g. ``[0.21, 0.38, 0.6]``); the Lan-DeMets spending function
    gives a valid bound even when looks are not where they were planned. A
    fraction >= 1 is the final look."""
    fractions = [min(float(x), 1.0) for x in information_fractions]
    if not fractions:
        raise StatsError("no looks given (hint: information fractions so far, e.g. [0.2, 0.4])")
    plan = design(method, len(fractions), alpha, fractions)
    return check_look(z, len(fractions), plan, final=fractions[-1] >= 1.0)
