"""Types of the optional C accelerator ``_fnv.c`` (see its header for the contract)."""

from typing import Any, Generic, TypeVar

from typing_extensions import Buffer

_T = TypeVar("_T")

CODE_MISSING: int
CODE_NAMESPACE: int

def bucket_v2(state: int, unit: str, /) -> int: ...
def bucket_v1(seed: str, unit: str, /) -> int: ...

class Picker(Generic[_T]):
    def __init__(self, state: int, items: tuple[_T, ...], /) -> None: ...
    def __call__(self, unit: str, /) -> _T: ...

def assign_codes(
    ids: Any,
    state: int,
    table: Buffer,
    suffix: str | None,
    ns_table: Buffer | None,
    overrides: dict[str, int] | None,
    out: Buffer,
    /,
) -> tuple[list[int], list[int]]: ...
