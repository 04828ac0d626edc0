"""The plumbing every lesson figure shares: a new figure, and a figure as PNG bytes.

A plotting function of the lessons returns its figure, so a cell shows it as
its last value. pyplot keeps every figure it makes and shows them all again
at the end of the cell, so :func:`new_figure` takes each one out of pyplot's
hands at once. The explorers show their chart as a PNG in an
``ipywidgets.Image`` rather than through an ``Output`` widget: an image
needs no output capture from the kernel, so a widget behaves the same in
JupyterLab, in nbconvert and in nbval; :func:`png_bytes` makes that PNG.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["new_figure", "figure_for", "png_bytes"]


def new_figure(
    figsize: tuple[float, float], *, nrows: int = 1, ncols: int = 1, **kwargs: Any
) -> tuple[Figure, Any]:
    """A new figure and its axes (as ``plt.subplots`` returns them), which pyplot
    will not show a second time.

    Args:
        figsize: width and height, in inches.
        nrows, ncols: the grid of axes.
        **kwargs: passed to ``plt.subplots`` (e.g. ``gridspec_kw``).
    """
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(nrows, ncols, figsize=figsize, **kwargs)
    plt.close(figure)  # returned, not left for pyplot to show a second time
    return figure, axes


def figure_for(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    """The axes to draw into and their figure: ``ax`` if given, else a new figure's."""
    if ax is not None:
        return ax.get_figure(root=True), ax  # type: ignore[return-value]
    return new_figure(figsize)


def png_bytes(figure: Figure, *, tight: bool = True) -> bytes:
    """``figure`` as a PNG for an ``Image`` widget, at 80 dpi.

    Args:
        tight: crop the margins to what is drawn (``bbox_inches="tight"``);
            a figure whose layout is fixed on purpose says ``False``.
    """
    png = io.BytesIO()
    figure.savefig(png, format="png", dpi=80, bbox_inches="tight" if tight else None)
    return png.getvalue()
