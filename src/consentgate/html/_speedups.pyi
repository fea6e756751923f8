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
        native: dict[bytes, tuple[int, int, bytes]] | None = None,
        raw_groups: bytes = b"",
        delegated: frozenset[bytes] | None = None,
    ) -> None: ...
    def scan(
        self, data: bytes, pos: int, lo: int, n: int, final: bool, /
    ) -> tuple[int, tuple[int, int, int, int, int] | None, int]: ...
    def search(self, data: bytes, pos: int, /) -> re.Match[bytes] | None: ...

class LiteralSet:
    def __init__(self, literals: tuple[bytes, ...]) -> None: ...
    def find(self, data: bytes, start: int, end: int, /) -> list[tuple[int, int]]: ...
    def first(self, data: bytes, start: int, end: int, ranks: bytes, top: int, /) -> int: ...

def settle(buf: bytes, lo: int, p: int, /) -> int: ...
def says_ping(data: bytes, start: int, /) -> bool: ...
