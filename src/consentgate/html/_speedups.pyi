import re

class TagSearch:
    def __init__(
        self,
        match: object,
        classes: bytes,
        a_alternative: bool,
        quiet: tuple[bytes, ...],
        domains: frozenset[bytes] | None,
        quiet_long: int,
    ) -> None: ...
    def search(self, data: bytes, pos: int, /) -> re.Match[bytes] | None: ...

class LiteralSet:
    def __init__(self, literals: tuple[bytes, ...]) -> None: ...
    def find(self, data: bytes, start: int, end: int, /) -> list[tuple[int, int]]: ...

def settle(buf: bytes, lo: int, p: int, /) -> int: ...
