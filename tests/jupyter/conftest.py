"""The IPython shell the magics' tests type into: one per test, in its own folder, store and
settings, with the extension loaded as `%load_ext kfp_jupyter` loads it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell


@pytest.fixture
def ip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KFP_JUPYTER_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("KFP_JUPYTER_STORE", str(tmp_path / "store"))
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    shell = InteractiveShell.instance()
    shell.extension_manager.load_extension("kfp_jupyter")
    yield shell
    shell.reset(new_session=False)
