"""A step's settings as the IR writes them: caching, retries, resources and accelerators.

Kubernetes-only settings (timeouts, secrets, labels, annotations, volumes) are not here: they go
into the second document, the PlatformSpec (platform.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ...model import Step

#: bytes in one unit of a Kubernetes quantity: K, M, G, ... decimal, Ki, Mi, Gi, ... binary
_UNITS: dict[str, int] = {
    unit: base**power
    for power, prefix in enumerate("KMGTPE", start=1)
    for unit, base in ((prefix, 1000), (prefix + "i", 1024))
}


def cpu_number(cpu: str) -> float:
    """`500m` -> 0.5, `2` -> 2.0: the older numeric field KFP still fills for older backends."""
    return float(cpu[:-1]) / 1000 if cpu.endswith("m") else float(cpu)


def memory_gb(memory: str) -> float:
    """`512Mi` -> 0.536870912: memory in (decimal) gigabytes, the older numeric field."""
    for suffix in sorted(_UNITS, key=len, reverse=True):
        if memory.endswith(suffix):
            return float(memory[: -len(suffix)]) * _UNITS[suffix] / 10**9
    return float(memory) / 10**9


def resources(step: Step) -> dict[str, object]:
    """The container's `resources`: cpu and memory limits, and the accelerator (KFP takes one;
    kfp_shared.check_kfp refuses a step that names several)."""
    out: dict[str, object] = {}
    for key, value in sorted(step.limits.items()):
        if key == "cpu":
            out["resourceCpuLimit"] = value
            out["cpuLimit"] = cpu_number(value)
        elif key == "memory":
            out["resourceMemoryLimit"] = value
            out["memoryLimit"] = memory_gb(value)
        else:
            count = str(value)
            out["accelerator"] = {
                "resourceType": key,
                "resourceCount": count,
                "type": key,
                "count": count,
            }
    return out


def task_options(step: Step) -> dict[str, object]:
    """The task's `cachingOptions` and, with retries, its `retryPolicy` (KFP's default backoff:
    immediately, then doubling, for at most an hour)."""
    out: dict[str, object] = {"cachingOptions": {"enableCache": True} if step.cache else {}}
    if step.retries:
        out["retryPolicy"] = {
            "maxRetryCount": step.retries,
            "backoffDuration": "0s",
            "backoffFactor": 2.0,
            "backoffMaxDuration": "3600s",
        }
    return out
