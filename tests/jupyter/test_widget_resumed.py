"""The widget shows a resumed run's elapsed time as the time it was running, like `runs show`'s
"took": the hours between a failure and its resume are not counted."""

from __future__ import annotations

from pathlib import Path

from engine_support import WAITED_S, failed_long_ago, kfpj, show

from kfp_jupyter.jupyter.widget import PipelineWidget


def test_a_resumed_run_attached_from_the_store_shows_its_running_time(tmp_path: Path) -> None:
    nb, store, marker = failed_long_ago(tmp_path)
    marker.unlink()
    assert kfpj("runs", "resume", "latest", store=store).returncode == 0
    run_id = show(store)["id"]

    w = PipelineWidget(str(nb), store=store)
    w.attach(run_id)
    run = w.wait(60)
    assert run["state"] == "SUCCEEDED"
    took = run["finished"] - run["started"]
    listed = kfpj("runs", "list", "--json", store=store).stdout
    assert 0 <= took < WAITED_S / 2, (took, listed)
