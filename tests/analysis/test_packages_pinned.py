"""Each step's packages are the distributions installed here, pinned to their versions, so a cluster
installs what the notebook ran with; off with --no-pin or the notebook's `pin_packages: false`;
a package installed from a local folder or a VCS is reported as not reproducible."""

from __future__ import annotations

import json
import os
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import pytest
from nbutil import code, inspect_json, make_notebook

from kfp_jupyter import NotebookError, load_notebook

#: import name -> the distribution that provides it (where the two differ in name)
WRONG_BEFORE = {
    "yaml": "pyyaml",
    "grpc": "grpcio",
    "absl": "absl-py",
    "hydra": "hydra-core",
    "snowflake.connector": "snowflake-connector-python",
    "llama_cpp": "llama-cpp-python",
    "google.protobuf": "protobuf",
}


def expected(dist: str) -> str:
    """`dist` pinned to the version installed in this environment, or bare where it is not."""
    try:
        return f"{dist}=={version(dist)}"
    except PackageNotFoundError:
        return dist


def packages(data: dict[str, Any], step: str) -> list[str]:
    return next(s["packages"] for s in data["steps"] if s["name"] == step)


def imports_notebook(tmp_path: Path, metadata: dict[str, Any] | None = None) -> Path:
    lines = [f"import {m}" for m in WRONG_BEFORE] + [
        "from ruamel import yaml as ruamel_yaml",
        "import google.cloud",
        "import pandas as pd",
    ]
    return make_notebook(
        tmp_path / "nb.ipynb",
        [code("\n".join(lines), "imports"), code("df = pd.DataFrame()", "step:load")],
        metadata,
    )


def test_packages_are_named_and_pinned_from_this_environment(tmp_path: Path) -> None:
    pkgs = packages(inspect_json(imports_notebook(tmp_path)), "load")
    for dist in WRONG_BEFORE.values():
        assert expected(dist) in pkgs
    assert expected("ruamel-yaml") in pkgs or "ruamel.yaml" in pkgs
    # pandas needs pyarrow to save its frames; the DataFrame flows nowhere, so no cloudpickle
    assert expected("pandas") in pkgs and expected("pyarrow") in pkgs
    # a bare namespace import installs nothing of its own
    assert not {"google-cloud", "google"} & set(pkgs)
    # the pins are versions: the installed ones, where installed
    assert f"pyyaml=={version('pyyaml')}" in pkgs


def test_no_pin_and_the_notebook_setting_turn_pinning_off(tmp_path: Path) -> None:
    nb = imports_notebook(tmp_path)
    assert "pyyaml" in packages(inspect_json(nb, "--no-pin"), "load")
    assert "pandas" in load_notebook(nb, pin_packages=False).step("load").packages
    off = imports_notebook(tmp_path / "off", {"kfp_jupyter": {"pin_packages": False}})
    # the command line's default does not override the notebook's setting
    assert "pyyaml" in packages(inspect_json(off), "load")
    assert all("==" not in p for p in packages(inspect_json(off), "load"))


def test_no_pin_keeps_the_names_found_in_this_environment(tmp_path: Path) -> None:
    """Not pinning drops the versions, not the lookup: `markdown_it` is markdown-it-py (rich,
    which kfp-jupyter needs, brings it), not the `markdown-it` a guess from its name gives."""
    nb = make_notebook(
        tmp_path / "nb.ipynb",
        [code("import markdown_it\nimport yaml\nx = 1", "step:s")],
    )
    assert packages(inspect_json(nb), "s") == [expected("markdown-it-py"), expected("pyyaml")]
    assert packages(inspect_json(nb, "--no-pin"), "s") == ["markdown-it-py", "pyyaml"]


def test_google_packages_not_installed_here_get_their_distributions_names(tmp_path: Path) -> None:
    """Where a module is not installed, the name comes from the rules: google's namespace holds
    google-X distributions (`google.generativeai`, not the unrelated `google`), and
    `google.cloud.X` is google-cloud-X."""
    from importlib.util import find_spec

    modules = {
        "google.generativeai": "google-generativeai",
        "google.cloud.bigquery": "google-cloud-bigquery",
        "google.adk.agents": "google-adk",
    }
    for module in modules:
        try:
            if find_spec(module) is not None:
                pytest.skip(f"{module} is installed here: its name comes from its metadata")
        except ModuleNotFoundError:
            pass
    nb = make_notebook(
        tmp_path / "nb.ipynb",
        [code("\n".join(f"import {m}" for m in modules) + "\nx = 1", "step:s")],
    )
    assert packages(inspect_json(nb), "s") == sorted(modules.values())


def test_packages_a_step_states_win_over_the_pins(tmp_path: Path) -> None:
    nb = make_notebook(
        tmp_path / "nb.ipynb",
        [
            code(
                "import yaml\nimport pandas",
                "step:a",
                "packages:pyyaml>=5",
                "packages:pandas==2.0.0",
            )
        ],
    )
    pkgs = load_notebook(nb).step("a").packages
    assert "pyyaml>=5" in pkgs and "pandas==2.0.0" in pkgs
    assert not any(p.startswith("pyyaml==") or p.startswith("pandas>") for p in pkgs)


def test_a_bad_pin_setting_names_the_key(tmp_path: Path) -> None:
    nb = imports_notebook(tmp_path, {"kfp_jupyter": {"pin_packages": "no"}})
    with pytest.raises(NotebookError) as e:
        load_notebook(nb)
    assert "kfp_jupyter.pin_packages" in str(e.value) and "true or false" in str(e.value)


def fake_distribution(site: Path, name: str, ver: str, direct_url: dict[str, Any] | None) -> None:
    """An installed distribution as pip leaves it: the package, METADATA, RECORD, and for a
    local or VCS install the PEP 610 direct_url.json."""
    (site / name).mkdir(parents=True)
    (site / name / "__init__.py").write_text("")
    info = site / f"{name}-{ver}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {ver}\n")
    files = [f"{name}/__init__.py", f"{info.name}/METADATA", f"{info.name}/RECORD"]
    if direct_url is not None:
        (info / "direct_url.json").write_text(json.dumps(direct_url))
        files.append(f"{info.name}/direct_url.json")
    (info / "RECORD").write_text("".join(f"{f},,\n" for f in files))


def test_local_and_vcs_installs_are_reported_as_not_reproducible(tmp_path: Path) -> None:
    site = tmp_path / "site"
    fake_distribution(site, "fromindex", "2.3.1", None)
    fake_distribution(
        site, "fromfolder", "0.1", {"url": "file:///home/me/fromfolder", "dir_info": {}}
    )
    fake_distribution(
        site,
        "fromgit",
        "0.2",
        {
            "url": "https://git.example/me/fromgit",
            "vcs_info": {"vcs": "git", "commit_id": "abc"},
        },
    )
    nb = make_notebook(
        tmp_path / "nb.ipynb",
        [code("import fromindex\nimport fromfolder\nimport fromgit\nx = 1", "step:train")],
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
    }
    data = inspect_json(nb, env=env)
    pkgs = packages(data, "train")
    assert "fromindex==2.3.1" in pkgs
    assert "fromfolder" in pkgs and "fromgit" in pkgs  # named, but no version a cluster can get
    warnings = data["stderr"] + json.dumps(data.get("warnings", []))
    assert "'fromfolder'" in warnings and "/home/me/fromfolder" in warnings
    assert "git+https://git.example/me/fromgit" in warnings
    assert "train" in warnings and "packages:fromgit==VERSION" in warnings
    assert "fromindex" not in warnings.replace("'fromindex'", "")
    # not pinning does not make a folder's package installable by name: still said
    unpinned = inspect_json(nb, "--no-pin", env=env)
    assert packages(unpinned, "train") == ["fromfolder", "fromgit", "fromindex"]
    assert "/home/me/fromfolder" in unpinned["stderr"] + json.dumps(unpinned.get("warnings", []))


def test_a_module_is_matched_to_the_distribution_whose_file_list_names_it(tmp_path: Path) -> None:
    """Distribution names unlike the module's, without top_level.txt: only the list of installed
    files tells. A list that merely contains the name as part of a longer path does not count,
    and an egg-info installation (SOURCES.txt, no RECORD) is read too."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "oddmod.py").write_text("")
    (site / "eggmod").mkdir()
    (site / "eggmod" / "__init__.py").write_text("")
    near = site / "near_miss-1.0.dist-info"
    near.mkdir()
    (near / "METADATA").write_text("Metadata-Version: 2.1\nName: near-miss\nVersion: 1.0\n")
    (near / "RECORD").write_text('"vendored/oddmod.py",,\nnear_miss-1.0.dist-info/RECORD,,\n')
    real = site / "Unrelated_Name-3.2.dist-info"
    real.mkdir()
    (real / "METADATA").write_text("Metadata-Version: 2.1\nName: unrelated-name\nVersion: 3.2\n")
    (real / "RECORD").write_text('"oddmod.py",sha256=x,1\nUnrelated_Name-3.2.dist-info/RECORD,,\n')
    egg = site / "egg_dist-0.7-py3.11.egg-info"
    egg.mkdir()
    (egg / "PKG-INFO").write_text("Metadata-Version: 1.1\nName: egg-dist\nVersion: 0.7\n")
    (egg / "SOURCES.txt").write_text("eggmod/__init__.py\n")
    nb = make_notebook(
        tmp_path / "nb.ipynb", [code("import oddmod\nimport eggmod\nx = 1", "step:train")]
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
    }
    pkgs = packages(inspect_json(nb, env=env), "train")
    assert "unrelated-name==3.2" in pkgs and "egg-dist==0.7" in pkgs
    assert not any(p.startswith("near-miss") for p in pkgs)
