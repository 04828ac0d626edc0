"""What the lessons' explorers share: bounded sliders and number fields, the QoS
choice, a redraw, a refusal in red.

Each explorer is a ``VBox`` of controls above what they drive (a chart, a
table, a sentence). These helpers keep that wiring the same everywhere, so a
learner who met one explorer knows how the next one behaves.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable
from typing import Any

import ipywidgets as widgets  # type: ignore[import-untyped,unused-ignore]

__all__ = ["QOS_CHOICES", "slider", "bounded_number", "redraw_on_change", "error_html"]

QOS_CHOICES: tuple[tuple[str, int], ...] = (("QoS 0", 0), ("QoS 1", 1), ("QoS 2", 2))
"""The options of a QoS control, e.g. ``ToggleButtons(options=QOS_CHOICES)``."""


def slider(
    description: str,
    value: float,
    lo: float,
    hi: float,
    step: float = 1,
    *,
    label_width: str = "9em",
    width: str | None = None,
) -> Any:
    """A labelled slider that cannot leave ``[lo, hi]``, so a bad value is never typed.

    An ``IntSlider`` when ``value``, ``lo``, ``hi`` and ``step`` are all
    ``int``; a ``FloatSlider`` otherwise.

    Args:
        description: the label.
        value, lo, hi, step: where it starts, its range and its step.
        label_width: room for the label, so the sliders of a form line up.
        width: the widget's whole width (CSS); the default width if ``None``.
    """
    whole = all(type(x) is int for x in (value, lo, hi, step))
    kind = widgets.IntSlider if whole else widgets.FloatSlider
    extra = {} if width is None else {"layout": widgets.Layout(width=width)}
    return kind(
        value=value,
        min=lo,
        max=hi,
        step=step,
        description=description,
        style={"description_width": label_width},
        **extra,
    )


def bounded_number(
    description: str,
    value: float,
    lo: float,
    hi: float,
    step: float | None = None,
    *,
    label_width: str = "initial",
    width: str | None = None,
) -> Any:
    """A labelled number field that cannot leave ``[lo, hi]``: a typed value past
    an end is held to it.

    A ``BoundedIntText`` when ``value``, ``lo``, ``hi`` and ``step`` (if given)
    are all ``int``; a ``BoundedFloatText`` otherwise. Where a slider would be
    too coarse (a seed, a bandwidth from 0.1 to 200,000 kbit/s), a field takes
    the exact figure.

    Args:
        description: the label.
        value, lo, hi: where it starts and its range.
        step: what the arrows add; the widget's own default if ``None``.
        label_width: room for the label; ``"initial"`` gives it what it needs,
            as a field in a row of fields wants.
        width: the widget's whole width (CSS); the default width if ``None``.
    """
    whole = all(type(x) is int for x in (value, lo, hi, step) if x is not None)
    kind = widgets.BoundedIntText if whole else widgets.BoundedFloatText
    extra: dict[str, Any] = {} if step is None else {"step": step}
    if width is not None:
        extra["layout"] = widgets.Layout(width=width)
    return kind(
        value=value,
        min=lo,
        max=hi,
        description=description,
        style={"description_width": label_width},
        **extra,
    )


def redraw_on_change(controls: Iterable[Any], redraw: Callable[[], object]) -> None:
    """Call ``redraw()`` each time one of ``controls`` (ipywidgets) takes a new value."""

    def on_change(change: dict[str, Any]) -> None:
        redraw()

    for control in controls:
        control.observe(on_change, names="value")


def error_html(message: str) -> str:
    """``message`` as one red line for an ``HTML`` widget, escaped (it may quote
    what the learner typed)."""
    return f"<span style='color:#c62828'>{html.escape(message)}</span>"
