"""The report's two kinds of summary figure, shared by `reporting.tally` and
`reporting.partners`: a spread of times (median and 90th percentile) and a ratio."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass


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
    ordered = sorted(values)
    rank = math.ceil(0.9 * len(ordered))
    return Spread(len(ordered), round(statistics.median(ordered), 2), ordered[rank - 1])


def ratio(part: int, whole: int) -> float | None:
    """`part` ÷ `whole` to four decimals; None for nothing to divide by."""
    return round(part / whole, 4) if whole else None
