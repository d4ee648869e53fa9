"""The quality report's charts, drawn with matplotlib as SVG.

Text stays text in the SVG (`svg.fonttype: none`) with a list of Chinese fonts first in
its font family, so whoever opens the report sees the labels in a font of their own
machine (Microsoft YaHei, PingFang, Noto CJK, WenQuanYi …) rather than tofu boxes or
glyph outlines of whatever font happened to be on the server.
"""

from __future__ import annotations

import io
import logging
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure

Gettext = Callable[[str], str]

# Font choice matters only for measuring text (the reader's fonts draw it), so a bold
# face missing on the server is not worth telling the operator about.
logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)

# Chinese fonts of Windows, macOS and Linux first; DejaVu Sans (always there) last.
FONTS = [
    "Microsoft YaHei",
    "PingFang SC",
    "Noto Sans CJK SC",
    "Source Han Sans SC",
    "WenQuanYi Micro Hei",
    "DejaVu Sans",
]
BLUE, ORANGE, GREEN, GREY = "#2f6db5", "#e07b28", "#3a9a5b", "#9aa5b1"
_STYLE: dict[str, Any] = {
    "svg.fonttype": "none",
    "svg.hashsalt": "complaintbot",  # the same figures give the same file
    "font.family": "sans-serif",
    "font.sans-serif": FONTS,
    "font.size": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 12,
    "axes.titleweight": "bold",
}


def svg(figure: Figure) -> str:
    import matplotlib.pyplot as plt

    out = io.StringIO()
    figure.savefig(out, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(figure)
    return out.getvalue()


@contextmanager
def _drawing() -> Iterator[ModuleType]:
    """pyplot under the report's style. matplotlib is loaded by the first chart, not
    by importing this module: it takes half a second, and every command would pay it."""
    import matplotlib

    matplotlib.use("svg")  # no screen on a server; SVG is all the report needs
    import matplotlib.pyplot as plt

    with matplotlib.rc_context(_STYLE), warnings.catch_warnings():  # type: ignore[arg-type]
        # Without a Chinese font on the server matplotlib warns for every character it
        # cannot measure; the text is kept as text and drawn by the reader's fonts.
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        yield plt


def bars(
    title: str,
    labels: list[str],
    values: list[float],
    *,
    unit: str = "",
    color: str = BLUE,
    horizontal: bool = False,
) -> str:
    """One series of bars, each with its value written on it."""
    with _drawing() as plt:
        from matplotlib import ticker

        height = max(2.4, 0.45 * len(labels) + 1) if horizontal else 3.4
        figure, axes = plt.subplots(figsize=(7.5, height))
        positions = range(len(labels))
        if horizontal:
            drawn = axes.barh(positions, values, color=color)
            axes.set_yticks(list(positions), labels)
            axes.invert_yaxis()  # the first label on top
        else:
            drawn = axes.bar(positions, values, color=color)
            axes.set_xticks(list(positions), labels, rotation=60 if len(labels) > 8 else 0)
        axes.bar_label(drawn, labels=[number(v, unit) for v in values], padding=2, fontsize=8)
        # Counts are whole numbers: no 0.2 steps on the axis.
        (axes.xaxis if horizontal else axes.yaxis).set_major_locator(
            ticker.MaxNLocator(integer=True)
        )
        axes.set_title(title, loc="left")
        axes.margins(x=0.08 if horizontal else 0.02, y=0.02 if horizontal else 0.12)
        return svg(figure)


def times(title: str, panels: list[tuple[str, str, float | None, float | None]], _: Gettext) -> str:
    """Median and 90th percentile side by side, one panel per measure (each its unit)."""
    with _drawing() as plt:
        figure, axes_row = plt.subplots(1, len(panels), figsize=(9, 3.2))
        for axes, (name, unit, median, p90) in zip(axes_row, panels, strict=True):
            values = [median or 0.0, p90 or 0.0]
            drawn = axes.bar([0, 1], values, color=[BLUE, ORANGE])
            axes.set_xticks([0, 1], [_("Median"), _("90th percentile")])
            axes.bar_label(
                drawn,
                labels=[number(v, unit) for v in (median, p90)],
                padding=2,
                fontsize=8,
            )
            axes.set_title(name, fontsize=10)
            axes.margins(y=0.15)
            axes.set_ylim(bottom=0, top=None if any(values) else 1)
        figure.suptitle(title, x=0.01, ha="left", fontweight="bold")
        return svg(figure)


def weekly_times(
    title: str,
    weeks: list[str],
    medians: list[float | None],
    p90s: list[float | None],
    unit: str,
    _: Gettext,
) -> str:
    """Median and 90th percentile side by side for each week; a week without the figure
    gets no bars and a dash."""
    with _drawing() as plt:
        figure, axes = plt.subplots(figsize=(max(7.5, 0.7 * len(weeks) + 2), 3.6))
        positions = range(len(weeks))
        for shift, name, values, color in (
            (-0.2, _("Median"), medians, BLUE),
            (0.2, _("90th percentile"), p90s, ORANGE),
        ):
            drawn = axes.bar(
                [p + shift for p in positions],
                [v or 0.0 for v in values],
                0.4,
                label=name,
                color=color,
            )
            axes.bar_label(drawn, labels=[number(v) for v in values], padding=2, fontsize=7)
        axes.set_xticks(list(positions), weeks, fontsize=8)
        axes.set_ylabel(unit)
        axes.set_ylim(bottom=0, top=None if any(v for v in (*medians, *p90s)) else 1)
        axes.margins(y=0.15)
        axes.legend(loc="upper right", fontsize=8)
        axes.set_title(title, loc="left")
        return svg(figure)


def compliance(
    title: str, categories: list[str], series: list[tuple[str, list[float | None]]]
) -> str:
    """Grouped horizontal bars: per category, the share of each time limit met (%)."""
    with _drawing() as plt:
        from matplotlib import ticker

        figure, axes = plt.subplots(figsize=(7.5, max(2.8, 0.9 * len(categories) + 1)))
        width = 0.8 / len(series)
        for index, ((name, rates), color) in enumerate(
            zip(series, (GREY, BLUE, GREEN), strict=False)
        ):
            positions = [p + index * width for p in range(len(categories))]
            drawn = axes.barh(positions, [r or 0.0 for r in rates], width, label=name, color=color)
            axes.bar_label(
                drawn,
                labels=[f"{r:.0%}" if r is not None else "—" for r in rates],
                padding=2,
                fontsize=7,
            )
        axes.set_yticks([p + 0.4 - width / 2 for p in range(len(categories))], categories)
        axes.invert_yaxis()
        axes.set_xlim(0, 1.12)
        axes.xaxis.set_major_formatter(ticker.PercentFormatter(1.0))
        axes.legend(loc="lower right", fontsize=8)
        axes.set_title(title, loc="left")
        return svg(figure)


def cases_and_rates(
    title: str,
    labels: list[str],
    cases: list[int],
    rates: list[float | None],
    names: tuple[str, str],
) -> str:
    """Two panels of horizontal bars side by side, one row per label: a count of cases
    (left) and a share (right, %; a dash where there is none), `names` their titles."""
    with _drawing() as plt:
        from matplotlib import ticker

        figure, (left, right) = plt.subplots(
            1, 2, sharey=True, figsize=(9, max(2.4, 0.45 * len(labels) + 1.2))
        )
        positions = list(range(len(labels)))
        drawn = left.barh(positions, cases, color=BLUE)
        left.bar_label(drawn, labels=[number(c) for c in cases], padding=2, fontsize=8)
        left.set_yticks(positions, labels)
        left.invert_yaxis()  # the first label on top (the axis is shared)
        left.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
        left.margins(x=0.12, y=0.02)
        left.set_title(names[0], fontsize=10)
        drawn = right.barh(positions, [r or 0.0 for r in rates], color=GREEN)
        right.bar_label(
            drawn,
            labels=[f"{r:.0%}" if r is not None else "—" for r in rates],
            padding=2,
            fontsize=8,
        )
        right.set_xlim(0, 1.15)
        right.xaxis.set_major_formatter(ticker.PercentFormatter(1.0))
        right.set_title(names[1], fontsize=10)
        figure.suptitle(title, x=0.01, ha="left", fontweight="bold")
        return svg(figure)


def number(value: float | None, unit: str = "") -> str:
    """A figure as the report writes it: `0.8 min`, `492.7`, `—` when there is none."""
    if value is None:
        return "—"
    text = str(value) if isinstance(value, int) else f"{value:g}"  # counts never as 1e+06
    return f"{text} {unit}".strip()
