"""Hypothesis profiles for the fuzz suite (`tests/faults/test_fuzz_*.py`).

`ci` (the default) is deterministic: examples are derived from each test's name
(`derandomize`), nothing is read from or written to an example database, and the
number of examples is bounded so that the whole fuzz suite takes well under two
minutes on two cores. `thorough` is for hunting by hand, e.g.
`HYPOTHESIS_PROFILE=thorough pytest tests/faults -k fuzz`: random, many more examples,
failures remembered in `.hypothesis/`.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_SLOW_IS_FINE = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example]

settings.register_profile(
    "ci",
    derandomize=True,
    database=None,
    max_examples=60,
    deadline=None,
    print_blob=True,
    suppress_health_check=_SLOW_IS_FINE,
)
settings.register_profile(
    "thorough",
    max_examples=2000,
    deadline=None,
    print_blob=True,
    suppress_health_check=_SLOW_IS_FINE,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def cheap(factor: int = 4) -> settings:
    """More examples for a property that is cheap to check (a parser, not a whole bot)."""
    return settings(max_examples=settings.default.max_examples * factor)
