"""How long `complaintbot report` takes and how much memory it needs, on SQLite.

    python -m bench.report [CASES] [--db FILE]

Fills a SQLite file as `bench.ledger` does (CASES resolved cases over six months, each
with handlers, a verification record and an answered survey), then runs the real
command once in a fresh process and prints its time and peak memory (the issue asks
for a report of 1,000,000 cases in at most 60 s). `--db FILE` keeps and reuses the
database, as for `bench.ledger` (the same file serves both).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from bench.ledger import arguments, bench_database, report


def main(argv: list[str]) -> None:
    args = arguments("python -m bench.report", argv)
    cases: int = args.cases
    with tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        url = bench_database(cases, args.db.resolve() if args.db else directory / "bench.db")
        (elapsed, peak, rss), metrics = report(url, directory)
        assert metrics["cases"] == cases, metrics["cases"]
        rate = cases / elapsed
        print(
            f"report: {elapsed:.1f} s ({rate:,.0f} cases/s, 1,000,000 in about "
            f"{1_000_000 / rate:.0f} s), peak memory {peak:,.0f} MB (PSS; RSS peaks added up "
            f"{rss:,.0f} MB), "
            f"{metrics['checks_failed']} checks failed"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
