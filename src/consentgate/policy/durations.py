"""Human durations in the policy: "13 months", "30 days", "2h", "1 year 6 months".

A month counts 30 days and a year 365 days, so a lifetime written in months never exceeds the
calendar months a regulator means (CNIL's 13-month cap is at least 393 days).

>>> parse_duration("13 months") == 390 * 86400
True
>>> parse_duration("2h")
7200
"""

from __future__ import annotations

import re

DAY = 86_400
_UNITS: dict[str, int] = {
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), 1),
    **dict.fromkeys(("min", "mins", "minute", "minutes"), 60),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), 3600),
    **dict.fromkeys(("d", "day", "days"), DAY),
    **dict.fromkeys(("w", "wk", "week", "weeks"), 7 * DAY),
    **dict.fromkeys(("mo", "month", "months"), 30 * DAY),
    **dict.fromkeys(("y", "yr", "yrs", "year", "years"), 365 * DAY),
}
_PART = re.compile(r"\s*(\d+)\s*([a-zA-Z]+)\s*,?")


def parse_duration(text: str) -> int:
    """Seconds in ``text``; ValueError with a readable reason otherwise."""
    position = 0
    total = 0
    stripped = text.strip()
    if not stripped:
        raise ValueError("an empty duration; write e.g. '6 months', '30 days' or '2h'")
    while position < len(stripped):
        match = _PART.match(stripped, position)
        if match is None:
            raise ValueError(
                f"{text!r} is not a duration; write e.g. '6 months', '30 days', '2h' or '1 year'"
            )
        count, unit = int(match.group(1)), match.group(2).lower()
        if unit == "m":
            raise ValueError(f"{text!r}: 'm' is ambiguous; write 'min' or 'months'")
        if unit not in _UNITS:
            raise ValueError(
                f"{text!r}: unknown unit {unit!r}; use seconds, minutes, hours, days, weeks, months or years"
            )
        total += count * _UNITS[unit]
        position = match.end()
    return total


def format_duration(seconds: int) -> str:
    """The largest exact unit: 390 days -> "13 months"; used in messages and docs."""
    for name, size in (("years", 365 * DAY), ("months", 30 * DAY), ("days", DAY), ("hours", 3600)):
        if seconds and seconds % size == 0:
            count = seconds // size
            return f"{count} {name[:-1] if count == 1 else name}"
    return f"{seconds} seconds"
