"""Banner theme: validated once at start-up, compiled to CSS custom properties.

The checks exist because regulators fine deceptive banners: the EDPB Cookie Banner Taskforce and
the CNIL's December 2024 notices name low-contrast or smaller "reject" controls; WCAG 2.x 1.4.3
asks 4.5:1 for text and 1.4.11 asks 3:1 for focus rings and toggles. So a theme that lowers the
contrast of any text or gives one choice its own colour or size never reaches a visitor.

References:
- WCAG 2.2, 1.4.3 (contrast minimum), 1.4.11 (non-text contrast), relative luminance definition
- EDPB, Report of the Cookie Banner Taskforce (17 Jan 2023), "deceptive button colours/contrast"
- CNIL, formal notices of 12 Dec 2024 (accept shown in a disproportionate colour, size or font)
"""

from __future__ import annotations

import colorsys
import re
from collections.abc import Mapping
from dataclasses import dataclass

from consentgate.policy.model import Theme

__all__ = [
    "DEFAULT_DARK",
    "DEFAULT_LIGHT",
    "PALETTE_KEYS",
    "CompiledTheme",
    "ThemeError",
    "compile_theme",
    "contrast_ratio",
    "parse_colour",
]


class ThemeError(ValueError):
    """A theme value that would hide a choice or break accessibility; ``key`` names it."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key


# Every colour a palette may set (custom property name without the "--cg-" prefix). There is
# deliberately one button colour pair: all choices share it, so no key can favour "accept".
PALETTE_KEYS: tuple[str, ...] = (
    "bg",
    "fg",
    "muted",
    "border",
    "button-bg",
    "button-fg",
    "button-border",
    "link",
    "accent",
    "focus",
)

DEFAULT_LIGHT: Mapping[str, str] = {
    "bg": "#ffffff",
    "fg": "#1a1a1a",
    "muted": "#4a4a4a",
    "border": "#8a8a8a",
    "button-bg": "#1d4ed8",
    "button-fg": "#ffffff",
    "button-border": "#1d4ed8",
    "link": "#1d4ed8",
    "accent": "#1d4ed8",
    "focus": "#b45309",
}

DEFAULT_DARK: Mapping[str, str] = {
    "bg": "#1b1b1f",
    "fg": "#f2f2f2",
    "muted": "#c8c8c8",
    "border": "#7a7a85",
    "button-bg": "#dbe4ff",
    "button-fg": "#0d1b3e",
    "button-border": "#dbe4ff",
    "link": "#9db7ff",
    "accent": "#9db7ff",
    "focus": "#fbbf24",
}

# (foreground, background, minimum ratio): text pairs need 4.5:1, rings and toggles 3:1.
_CONTRAST_PAIRS: tuple[tuple[str, str, float], ...] = (
    ("button-fg", "button-bg", 4.5),
    ("fg", "bg", 4.5),
    ("muted", "bg", 4.5),
    ("link", "bg", 4.5),
    ("accent", "bg", 3.0),
    ("focus", "bg", 3.0),
)

# Names that could only exist to style one choice differently, or to change size or weight.
_PROMINENCE = re.compile(
    r"accept|reject|refuse|deny|allow|agree|customi[sz]e|save|primary|secondary|"
    r"size|weight|opacity|padding|width|height|scale|display|visib",
    re.IGNORECASE,
)
_LENGTH = re.compile(r"^(?:0|\d{1,3}(?:\.\d{1,3})?(?:px|rem|em|%))$")
# A font stack: names, quotes, commas. No url(), no @, nothing that ends the declaration.
_FONT = re.compile(r"^[^;{}<>\\@()\r\n]{1,200}$")
_HEX = re.compile(r"^#([0-9a-f]{3,4}|[0-9a-f]{6}|[0-9a-f]{8})$")
_FUNC = re.compile(r"^(rgba?|hsla?)\(\s*([^()]*)\)$")
_NAMED: Mapping[str, tuple[int, int, int]] = {
    "white": (255, 255, 255),
    "black": (0, 0, 0),
    "red": (255, 0, 0),
    "green": (0, 128, 0),
    "blue": (0, 0, 255),
    "navy": (0, 0, 128),
    "gray": (128, 128, 128),
    "grey": (128, 128, 128),
    "silver": (192, 192, 192),
    "maroon": (128, 0, 0),
    "purple": (128, 0, 128),
    "teal": (0, 128, 128),
    "yellow": (255, 255, 0),
    "orange": (255, 165, 0),
}


def parse_colour(value: str) -> tuple[int, int, int] | None:
    """An opaque sRGB colour, or None when the value is not one we can check.

    >>> parse_colour("#1d4ed8"), parse_colour("rgb(0 0 0)"), parse_colour("transparent")
    ((29, 78, 216), (0, 0, 0), None)
    """
    text = value.strip().lower()
    if text in _NAMED:
        return _NAMED[text]
    hex_match = _HEX.match(text)
    if hex_match:
        digits = hex_match.group(1)
        if len(digits) in (3, 4):
            digits = "".join(ch * 2 for ch in digits)
        if len(digits) == 8 and digits[6:] != "ff":
            return None  # translucent: the contrast depends on whatever is behind it
        return (int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16))
    func_match = _FUNC.match(text)
    if func_match is None:
        return None
    parts = [p for p in re.split(r"[\s,/]+", func_match.group(2).strip()) if p]
    if len(parts) == 4:
        if _number(parts[3], 1.0) != 1.0:
            return None
        parts = parts[:3]
    if len(parts) != 3:
        return None
    if func_match.group(1).startswith("rgb"):
        channels = [_number(p, 255.0) for p in parts]
        if any(c is None or not 0 <= c <= 255 for c in channels):
            return None
        return (round(channels[0] or 0), round(channels[1] or 0), round(channels[2] or 0))
    hue = _number(parts[0].removesuffix("deg"), 360.0, percent_ok=False)
    saturation = _number(parts[1], 1.0, percent_only=True)
    lightness = _number(parts[2], 1.0, percent_only=True)
    if hue is None or saturation is None or lightness is None:
        return None
    if not (0 <= saturation <= 1 and 0 <= lightness <= 1):
        return None
    r, g, b = colorsys.hls_to_rgb((hue % 360) / 360, lightness, saturation)
    return (round(r * 255), round(g * 255), round(b * 255))


def _number(text: str, scale: float, *, percent_ok: bool = True, percent_only: bool = False) -> float | None:
    try:
        if text.endswith("%"):
            if not percent_ok:
                return None
            return float(text[:-1]) / 100 * scale
        if percent_only:
            return None
        return float(text)
    except ValueError:
        return None


def _luminance(rgb: tuple[int, int, int]) -> float:
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(v) for v in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(first: tuple[int, int, int], second: tuple[int, int, int]) -> float:
    """WCAG contrast ratio, 1.0 to 21.0.

    >>> round(contrast_ratio((255, 255, 255), (0, 0, 0)), 1)
    21.0
    """
    lighter, darker = sorted((_luminance(first), _luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


@dataclass(frozen=True)
class CompiledTheme:
    position: str
    light: Mapping[str, str]
    dark: Mapping[str, str]
    radius: str
    font: str

    def css(self) -> str:
        """The custom-property block appended to banner.css (defaults plus the site's values)."""

        def block(palette: Mapping[str, str], extra: str = "") -> str:
            body = ";".join(f"--cg-{name}:{palette[name]}" for name in PALETTE_KEYS)
            return f".cg{{{body}{extra}}}"

        # (No line breaks: the stylesheet and the runtime share one byte budget.)
        common = f";--cg-radius:{self.radius};--cg-font:{self.font}"
        return block(self.light, common) + "@media (prefers-color-scheme:dark){" + block(self.dark) + "}"

    def as_dict(self) -> dict[str, object]:
        """Plain values for the notice archive: the look is part of what was shown."""
        return {
            "position": self.position,
            "radius": self.radius,
            "font": self.font,
            "light": dict(self.light),
            "dark": dict(self.dark),
        }


def compile_theme(theme: Theme) -> CompiledTheme:
    """Validate ``theme`` and merge it over the defaults; ThemeError names the first bad key.

    >>> compile_theme(Theme(light={"button-bg": "#000000", "button-fg": "#ffffff"})).light["button-bg"]
    '#000000'
    >>> try:
    ...     compile_theme(Theme(light={"accept-bg": "#00aa00"}))
    ... except ThemeError as error:
    ...     print(error.key)
    theme.light.accept-bg
    """
    if theme.position not in ("bottom", "box", "center"):
        raise ThemeError("theme.position", f"{theme.position!r} is not one of bottom, box, center")
    if not _LENGTH.match(theme.radius.strip()):
        raise ThemeError("theme.radius", f"{theme.radius!r} is not a CSS length such as '8px'")
    if not _FONT.match(theme.font.strip()):
        raise ThemeError(
            "theme.font",
            f"{theme.font!r} is not a plain font stack (names and commas only; fonts are never "
            "loaded from elsewhere)",
        )
    light = _palette("theme.light", theme.light, DEFAULT_LIGHT)
    dark = _palette("theme.dark", theme.dark, DEFAULT_DARK)
    return CompiledTheme(
        position=theme.position,
        light=light,
        dark=dark,
        radius=theme.radius.strip(),
        font=theme.font.strip(),
    )


def _palette(where: str, overrides: Mapping[str, str], defaults: Mapping[str, str]) -> Mapping[str, str]:
    merged = dict(defaults)
    colours = {name: _opaque(value) for name, value in defaults.items()}
    for raw_name, value in overrides.items():
        name = raw_name.strip().lower().removeprefix("--cg-")
        key = f"{where}.{raw_name}"
        if name not in PALETTE_KEYS:
            if _PROMINENCE.search(name):
                raise ThemeError(
                    key,
                    "would style one choice, or a size or weight, on its own; all choices share "
                    "one look so that refusing is as visible as accepting (EDPB taskforce, CNIL)",
                )
            raise ThemeError(key, f"unknown theme key; use one of {', '.join(PALETTE_KEYS)}")
        rgb = parse_colour(value) if isinstance(value, str) else None
        if rgb is None:
            raise ThemeError(
                key,
                f"{value!r} is not an opaque colour whose contrast can be checked; use #rrggbb, "
                "rgb() or hsl()",
            )
        merged[name] = value.strip()
        colours[name] = rgb
    overridden = _names(overrides)
    for fg_name, bg_name, minimum in _CONTRAST_PAIRS:
        ratio = contrast_ratio(colours[fg_name], colours[bg_name])
        if ratio < minimum:
            # Name the key the site set; with both set, the foreground one.
            culprit = bg_name if bg_name in overridden and fg_name not in overridden else fg_name
            raise ThemeError(
                f"{where}.{culprit}",
                f"contrast of {fg_name} {merged[fg_name]} on {bg_name} {merged[bg_name]} is "
                f"{ratio:.2f}:1, below the {minimum}:1 WCAG minimum",
            )
    return merged


def _opaque(value: str) -> tuple[int, int, int]:
    rgb = parse_colour(value)
    if rgb is None:
        raise ThemeError("theme", f"built-in colour {value!r} does not parse")
    return rgb


def _names(overrides: Mapping[str, str]) -> set[str]:
    return {n.strip().lower().removeprefix("--cg-") for n in overrides}
