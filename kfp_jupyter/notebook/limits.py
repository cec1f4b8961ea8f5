"""Resource limits as a step states them: checked here, so that a typo is a notebook error and
not a compiler crash.

Shared by the tag and magic grammars, and by volume sizes, which are memory-like amounts.
"""

from __future__ import annotations

import re
from itertools import pairwise

from ..model import GPU_RESOURCE

#: Other names people use for a GPU limit.
GPU_ALIASES = frozenset({"gpu", "gpus", "nvidia.com/gpu"})
#: A Kubernetes memory (or storage) amount in whole units.
MEMORY_RE = re.compile(r"^[0-9]+(E|Ei|P|Pi|T|Ti|G|Gi|M|Mi|K|Ki)?$")
_CPU_RE = re.compile(r"^([0-9]*[.])?[0-9]+m?$")
_COUNT_RE = re.compile(r"^[0-9]+$")


#: the memory units from the largest down to bytes (""), binary and decimal, and what one holds
#: of the next
_UNIT_LADDERS = (
    (("Ei", "Pi", "Ti", "Gi", "Mi", "Ki", ""), 1024),
    (("E", "P", "T", "G", "M", "K", ""), 1000),
)
#: each unit to the next smaller one and how many of those it holds ("Gi": ("Mi", 1024))
_SMALLER_UNIT = {
    big: (small, step) for ladder, step in _UNIT_LADDERS for big, small in pairwise(ladder)
}


def _whole_memory(value: str) -> str:
    """`1.5Gi` -> `1536Mi`: the same amount in whole units, since the KFP SDK accepts only whole
    numbers and Kale notebooks write decimals; an amount no unit makes whole (`1.3Gi`) becomes
    whole bytes, rounded up, as Kubernetes rounds it."""
    m = re.match(r"^([0-9]+)[.]([0-9]+)([A-Za-z]*)$", value)
    if not m or (m.group(3) and m.group(3) not in _SMALLER_UNIT):
        return value
    digits, unit = m.group(1) + m.group(2), m.group(3)
    numerator, denominator = int(digits), 10 ** len(m.group(2))
    while unit:
        if numerator % denominator == 0:
            break
        unit, factor = _SMALLER_UNIT[unit]
        numerator *= factor
    return f"{-(-numerator // denominator)}{unit}"


#: Limits KFP cannot set on a task (its task resources are cpu, memory and an accelerator): a
#: Kale tag naming one is ignored with a warning; a `%%step --limit` keeps it for Argo, which sets
#: it, and the KFP targets refuse it.
UNSETTABLE_LIMITS = frozenset({"ephemeral-storage", "storage"})


def bytes_amount(value: str) -> str:
    """A number of bytes in the largest binary unit that holds it whole (`1073741824` ->
    `1Gi`), as a Kubernetes quantity written without a unit is read: a size stays readable
    rather than becoming a ten-digit number. Anything else is returned as it is."""
    amount = memory_amount(value)
    if amount is None or not amount.isdigit() or int(amount) == 0:
        return value
    n = int(amount)
    for power, unit in zip(range(6, 0, -1), _UNIT_LADDERS[0][0], strict=False):
        if n % 1024**power == 0:
            return f"{n // 1024**power}{unit}"
    return amount


def memory_amount(value: str) -> str | None:
    """A memory or storage amount as the model stores it (whole units: `0.5Gi` -> `512Mi`), or
    None when Kubernetes would refuse it; one reader for limits and volume sizes alike."""
    whole = _whole_memory(value)
    return whole if MEMORY_RE.match(whole) else None


def check_limit(resource: str, value: str) -> tuple[str, str]:
    """The limit as the model stores it (GPU aliases -> nvidia.com/gpu); ValueError if invalid."""
    key = GPU_RESOURCE if resource.lower() in GPU_ALIASES else resource
    if key == "cpu":
        if not _CPU_RE.match(value):
            raise ValueError(f"cpu limit {value!r} is not a CPU amount (e.g. 2, 0.5 or 500m)")
    elif key == "memory" or key in UNSETTABLE_LIMITS:
        amount = memory_amount(value)
        if amount is None:
            raise ValueError(
                f"{key} limit {value!r} is not a memory amount (a whole number with an "
                "optional unit K, M, G, T, Ki, Mi, Gi, Ti, e.g. 4Gi or 512Mi, or a decimal such as "
                "1.5Gi)"
            )
        value = amount
    elif not _COUNT_RE.match(value):
        raise ValueError(
            f"limit {key!r} = {value!r}: accelerator limits are whole numbers of devices "
            "(only cpu, memory and storage limits take other amounts)"
        )
    return key, value
