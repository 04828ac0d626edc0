"""controls: what the explorers share (bounded sliders, the QoS choice, redraw, refusals)."""

from __future__ import annotations

import ipywidgets as widgets  # type: ignore[import-untyped,unused-ignore]

from mqttsim.widgets.controls import (
    QOS_CHOICES,
    bounded_number,
    error_html,
    redraw_on_change,
    slider,
)


def test_a_slider_is_whole_or_not_as_its_numbers_are_and_stays_in_range() -> None:
    whole = slider("queue limit", 5, 1, 20, label_width="12em")
    assert isinstance(whole, widgets.IntSlider)
    assert (whole.min, whole.max, whole.step, whole.description) == (1, 20, 1, "queue limit")
    assert whole.style.description_width == "12em"
    whole.value = 99
    assert whole.value == 20  # a value past the end is held to it
    fine = slider("loss (%)", 1.0, 0.0, 20.0, 0.5, width="34em")
    assert isinstance(fine, widgets.FloatSlider) and fine.layout.width == "34em"


def test_a_number_field_is_whole_or_not_as_its_numbers_are_and_stays_in_range() -> None:
    seed = bounded_number("seed", 1999, 0, 2**31 - 1, width="160px")
    assert isinstance(seed, widgets.BoundedIntText)
    assert (seed.min, seed.max, seed.step, seed.description) == (0, 2**31 - 1, 1, "seed")
    assert seed.style.description_width == "initial" and seed.layout.width == "160px"
    seed.value = -5
    assert seed.value == 0  # a typed value past the end is held to it
    loss = bounded_number("loss (%)", 1.0, 0.0, 50.0, 0.1, label_width="6em")
    assert isinstance(loss, widgets.BoundedFloatText)
    assert (loss.step, loss.style.description_width) == (0.1, "6em")
    loss.value = 80.0
    assert loss.value == 50.0
    hours = bounded_number("hours", 2, 0.25, 48, 0.25)  # one float makes it a float field
    assert isinstance(hours, widgets.BoundedFloatText) and hours.value == 2.0


def test_every_control_redraws_and_only_on_a_new_value() -> None:
    a, b = widgets.IntSlider(value=1), widgets.ToggleButtons(options=QOS_CHOICES, value=0)
    calls: list[int] = []
    redraw_on_change([a, b], lambda: calls.append(1))
    a.value = 2
    b.value = 2
    a.description = "renamed"
    assert len(calls) == 2


def test_a_refusal_is_red_and_escaped() -> None:
    shown = error_html("filter 'a/#/b' has <#>")
    assert shown.startswith("<span style='color:#c62828'>")
    assert "&#x27;a/#/b&#x27; has &lt;#&gt;" in shown
