"""figures: new figures pyplot will not show twice, and figures as PNG bytes."""

from __future__ import annotations

import matplotlib.pyplot as plt

from mqttsim.widgets.figures import figure_for, new_figure, png_bytes


def test_a_new_figure_is_not_left_with_pyplot() -> None:
    before = plt.get_fignums()
    figure, (left, right) = new_figure((6, 2), ncols=2)
    assert plt.get_fignums() == before
    assert tuple(figure.get_size_inches()) == (6, 2) and left is not right


def test_given_axes_are_drawn_into_and_none_makes_a_figure() -> None:
    figure, ax = new_figure((4, 3))
    assert figure_for(ax, (9, 9)) == (figure, ax)
    other, new_ax = figure_for(None, (5, 2))
    assert other is not figure and tuple(other.get_size_inches()) == (5, 2)
    assert new_ax.get_figure() is other


def test_a_figure_becomes_png_bytes_cropped_or_whole() -> None:
    figure, ax = new_figure((4, 3))
    ax.plot([0, 1], [0, 1])
    tight, whole = png_bytes(figure), png_bytes(figure, tight=False)
    assert tight.startswith(b"\x89PNG\r\n\x1a\n") and whole.startswith(b"\x89PNG")
    width = int.from_bytes(whole[16:20], "big")  # IHDR: 4 in at 80 dpi
    assert width == 320 and int.from_bytes(tight[16:20], "big") < width
