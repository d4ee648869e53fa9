"""The report's kinds of summary figure, shared by `reporting.tally`, `reporting.partners`
and `reporting.handlers`: a spread of times (median and 90th percentile), a ratio, and a
time limit's compliance; and how `metrics.json` writes them."""

from __future__ import annotations

import math
import pickle
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    _PackedDoubles = array[float]
else:
    _PackedDoubles = array


class Doubles(_PackedDoubles):
    """Times as packed doubles (a million in 8 MB rather than 32 as Python floats).
    Pickled with protocol 5 they travel out of band: the second process sends their
    memory as it is (`reporting.second_process`), with no pickled copy beside it."""

    def __new__(cls, values: Iterable[float] = ()) -> Doubles:
        packed: Doubles = super().__new__(cls, "d", values)  # type: ignore[assignment]
        return packed

    def __reduce_ex__(self, protocol: Any) -> tuple[Any, tuple[Any]]:
        if isinstance(protocol, int) and protocol >= 5:
            return _doubles, (pickle.PickleBuffer(self),)
        return _doubles, (self.tobytes(),)


def _doubles(data: Any) -> Doubles:
    values = Doubles()
    values.frombytes(data)
    return values


@dataclass(frozen=True, slots=True)
class Spread:
    count: int
    median: float | None
    p90: float | None


def spread(values: Sequence[float]) -> Spread:
    """The median (to a hundredth) and the 90th percentile by nearest rank (the smallest
    value that at least 90 % of `values` do not exceed)."""
    if not values:
        return Spread(0, None, None)
    import numpy  # only where the figures are written, not in the second process

    # Sorted as packed doubles: a million times as Python floats would take 32 MB.
    ordered = numpy.sort(numpy.asarray(values, dtype=numpy.float64))
    count = len(ordered)
    half = count // 2
    middle = ordered[half] if count % 2 else (ordered[half - 1] + ordered[half]) / 2
    rank = math.ceil(0.9 * count)
    return Spread(count, round(float(middle), 2), float(ordered[rank - 1]))


def ratio(part: int, whole: int) -> float | None:
    """`part` ÷ `whole` to four decimals; None for nothing to divide by."""
    return round(part / whole, 4) if whole else None


LIMITS = ("receipt", "first_response", "resolution")
"""The time limits of a case, as `reporting.rows.LedgerRow` names its outcomes."""


@dataclass(frozen=True, slots=True)
class Compliance:
    """How the cases fared against one time limit (or several, added up)."""

    met: int
    missed: int
    pending: int
    no_limit: int

    @property
    def rate(self) -> float | None:
        return ratio(self.met, self.met + self.missed)

    @property
    def total(self) -> int:
        return self.met + self.missed + self.pending + self.no_limit


def spread_json(found: Spread) -> dict[str, Any]:
    return {"count": found.count, "median": found.median, "p90": found.p90}


def compliance_json(found: Compliance) -> dict[str, Any]:
    return {
        "met": found.met,
        "missed": found.missed,
        "pending": found.pending,
        "no_limit": found.no_limit,
        "rate": found.rate,
    }
