"""A cluster run shown as text, the same in `kfp-jupyter submit --wait` and in `%kfp submit` in
IPython in a terminal (which draws no widget): each step's progress as the local engine's
`run` shows it, then one line with the run's state, the metrics and where to see the details.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable

    from rich.console import Console


def follow_cluster_run(handle: Any, console: Console, events: Iterable[Any] | None = None) -> Any:
    """Each step's progress until `events` (default: the run's own) end; the view of the run."""
    from ..engine.progress import follow

    return follow(handle.events() if events is None else events, console, console.is_terminal)


def print_cluster_summary(handle: Any, view: Any, began: float, console: Console) -> None:
    from rich.text import Text

    from ..engine import states
    from ..engine.progress import STYLES, counted, fmt_seconds

    counts = view.counts()
    parts = [f"{n} {s.lower()}" for s, n in counts.items() if n]
    console.print(
        Text.assemble(
            ("run ", ""),
            (handle.run_id, "bold"),
            " ",
            (handle.state, STYLES.get(handle.state, "")),
            f" after {fmt_seconds(time.time() - began)}: {counted(len(view.rows), 'step')} "
            f"({', '.join(parts)})",
        )
    )
    if handle.state != states.SUCCEEDED and handle.message:
        console.print(f"  {handle.message}", markup=False, style="red")
    if view.metrics:
        console.print(
            "metrics: " + ", ".join(f"{k}={v:g}" for k, v in view.metrics.items()), markup=False
        )
    if handle.url:
        console.print(f"details: {handle.url}", markup=False)
