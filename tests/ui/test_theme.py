"""consentgate.ui.theme: contrast and equal prominence are checked before any visitor sees them."""

from __future__ import annotations

import pytest

from consentgate.policy.model import Theme
from consentgate.ui.theme import (
    DEFAULT_DARK,
    DEFAULT_LIGHT,
    PALETTE_KEYS,
    ThemeError,
    compile_theme,
    contrast_ratio,
    parse_colour,
)


def ratio(fg: str, bg: str) -> float:
    first, second = parse_colour(fg), parse_colour(bg)
    assert first is not None and second is not None
    return contrast_ratio(first, second)


@pytest.mark.parametrize("palette", [DEFAULT_LIGHT, DEFAULT_DARK])
def test_default_palettes_meet_wcag_aa(palette: dict[str, str]) -> None:
    assert set(palette) == set(PALETTE_KEYS)
    assert ratio(palette["button-fg"], palette["button-bg"]) >= 4.5
    assert ratio(palette["fg"], palette["bg"]) >= 4.5
    assert ratio(palette["muted"], palette["bg"]) >= 4.5
    assert ratio(palette["link"], palette["bg"]) >= 4.5
    assert ratio(palette["focus"], palette["bg"]) >= 3.0


def test_default_theme_compiles_with_light_and_dark_custom_properties() -> None:
    css = compile_theme(Theme()).css()
    assert css.count("--cg-button-bg:") == 2
    assert "@media (prefers-color-scheme:dark)" in css
    assert "--cg-radius:8px" in css


def test_contrast_ratio_matches_wcag_reference_values() -> None:
    assert round(ratio("#ffffff", "#000000"), 2) == 21.0
    assert ratio("#777777", "#777777") == 1.0
    assert round(ratio("#767676", "#ffffff"), 2) == 4.54  # the classic lightest AA grey on white


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("#fff", (255, 255, 255)),
        ("#1D4ED8", (29, 78, 216)),
        ("#000000ff", (0, 0, 0)),
        ("rgb(10, 20, 30)", (10, 20, 30)),
        ("rgb(10 20 30 / 1)", (10, 20, 30)),
        ("rgba(10,20,30,100%)", (10, 20, 30)),
        ("hsl(0 100% 50%)", (255, 0, 0)),
        ("White", (255, 255, 255)),
        ("#00000080", None),
        ("rgba(0,0,0,.5)", None),
        ("transparent", None),
        ("var(--brand)", None),
        ("rgb(300, 0, 0)", None),
        ("hsl(0 100 50)", None),
        ("#12", None),
        ("", None),
    ],
)
def test_parse_colour_accepts_opaque_colours_only(value: str, expected: tuple[int, int, int] | None) -> None:
    assert parse_colour(value) == expected


def test_low_button_text_contrast_is_refused_naming_the_key() -> None:
    with pytest.raises(ThemeError) as error:
        compile_theme(Theme(light={"button-bg": "#ffffff", "button-fg": "#9a9a9a"}))
    assert error.value.key == "theme.light.button-fg"
    assert "4.5:1" in str(error.value)


def test_a_background_that_breaks_default_text_contrast_is_named() -> None:
    with pytest.raises(ThemeError) as error:
        compile_theme(Theme(dark={"button-bg": "#223355"}))
    assert error.value.key == "theme.dark.button-bg"


def test_light_text_on_a_light_banner_is_refused() -> None:
    with pytest.raises(ThemeError) as error:
        compile_theme(Theme(light={"fg": "#cccccc"}))
    assert error.value.key == "theme.light.fg"


@pytest.mark.parametrize(
    "key",
    [
        "accept-bg",
        "reject-fg",
        "button-accept-bg",
        "primary-bg",
        "secondary-fg",
        "button-font-size",
        "font-weight",
        "reject-opacity",
        "button-padding",
    ],
)
def test_keys_that_could_make_one_choice_more_prominent_are_refused(key: str) -> None:
    with pytest.raises(ThemeError) as error:
        compile_theme(Theme(light={key: "#000000"}))
    assert error.value.key == f"theme.light.{key}"
    assert "refusing is as visible as accepting" in str(error.value)


def test_an_unknown_key_is_refused_with_the_list_of_valid_ones() -> None:
    with pytest.raises(ThemeError) as error:
        compile_theme(Theme(light={"background": "#ffffff"}))
    assert error.value.key == "theme.light.background"
    assert "button-bg" in str(error.value)


def test_the_cg_prefix_is_accepted_on_keys() -> None:
    assert compile_theme(Theme(light={"--cg-accent": "#000000"})).light["accent"] == "#000000"


@pytest.mark.parametrize(
    "value", ["red;}body{display:none", "rgba(0,0,0,.2)", "var(--x)", "url(x)", "#fff</style>"]
)
def test_colours_that_cannot_be_checked_or_escape_css_are_refused(value: str) -> None:
    with pytest.raises(ThemeError) as error:
        compile_theme(Theme(light={"accent": value}))
    assert error.value.key == "theme.light.accent"


@pytest.mark.parametrize("radius", ["8px;}", "calc(1px)", "huge", "-4px"])
def test_a_radius_that_is_not_a_plain_length_is_refused(radius: str) -> None:
    with pytest.raises(ThemeError) as error:
        compile_theme(Theme(radius=radius))
    assert error.value.key == "theme.radius"


@pytest.mark.parametrize("font", ["x;}body{display:none}", "url(https://fonts.example/x)", "@import", ""])
def test_a_font_that_is_not_a_plain_stack_is_refused(font: str) -> None:
    with pytest.raises(ThemeError) as error:
        compile_theme(Theme(font=font))
    assert error.value.key == "theme.font"


def test_an_unknown_position_is_refused() -> None:
    with pytest.raises(ThemeError) as error:
        compile_theme(Theme(position="top"))  # type: ignore[arg-type]
    assert error.value.key == "theme.position"


def test_a_valid_custom_theme_is_merged_over_the_defaults() -> None:
    theme = compile_theme(
        Theme(position="center", radius="0", font="Georgia, serif", light={"button-bg": "#000000"})
    )
    assert theme.light["button-bg"] == "#000000"
    assert theme.light["button-fg"] == DEFAULT_LIGHT["button-fg"]
    assert theme.dark == DEFAULT_DARK
    assert theme.as_dict()["position"] == "center"
    assert "--cg-font:Georgia, serif" in theme.css()
