"""What a Kale user meets moving a notebook over: Kale's volume sizes and volumes that cannot be
mounted, Katib settings Kale's panel writes on every save, a None parameter, the versions pinned
from this environment on an image the notebook names, and the relative paths Kale's working
folder makes work."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from engine_support import kfpj
from every_target import on_every_target
from nbutil import code, make_notebook

from kfp_jupyter import NotebookError, load_notebook

HERE = f"{sys.version_info.major}.{sys.version_info.minor}"


def _kale(tmp_path: Path, kale: dict[str, Any], cells: list[Any] | None = None) -> Path:
    cells = cells or [code("x = 1", "block:one"), code("y = x + 1", "block:two", "prev:one")]
    return make_notebook(
        tmp_path / "k.ipynb", cells, {"kubeflow_notebook": {"pipeline_name": "k", **kale}}
    )


def _new_pvc(**item: object) -> dict[str, Any]:
    return {"type": "new_pvc", "name": "vol", "mount_point": "/d", **item}


def _warned(nb: Path, *options: str) -> str:
    r = kfpj("inspect", nb, *options)
    assert r.returncode == 0, r.stderr
    return r.stderr


# --- volume sizes: what Kubernetes accepts, written in whole units as the KFP SDK takes them


@pytest.mark.parametrize(
    ("size", "size_type", "stored"),
    [
        (0.5, "Gi", "512Mi"),
        (1.5, "Gi", "1536Mi"),
        ("5Gi", "", "5Gi"),
        ("5Gi", "Gi", "5Gi"),
        ("5Gi", None, "5Gi"),
        (2, "Mi", "2Mi"),
        # an empty size_type is Kale's bytes, as Kubernetes reads a number without a unit
        (1073741824, "", "1Gi"),
        ("536870912", "", "512Mi"),
        (1048576, "", "1Mi"),
    ],
)
def test_kale_volume_sizes_kubernetes_accepts_are_mounted(
    tmp_path: Path, size: object, size_type: object, stored: str
) -> None:
    kale = {"volumes": [_new_pvc(size=size, size_type=size_type, storage_class_name="std")]}
    pipeline = load_notebook(_kale(tmp_path, kale))
    assert [(v.name, v.size) for v in pipeline.volumes] == [("vol", stored)]
    assert not [w for w in pipeline.warnings if "volumes[0]" in w.message]
    for step in pipeline.steps:
        assert [(m.volume, m.path) for m in step.mounts] == [("vol", "/d")]
    docs, argo = on_every_target(pipeline, tmp_path)
    (claim,) = argo["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["resources"]["requests"]["storage"] == stored
    assert f"constant: {stored}" in yaml.safe_dump(docs[0])


def test_a_decimal_size_in_a_volume_tag_is_accepted_too(tmp_path: Path) -> None:
    nb = make_notebook(tmp_path / "t.ipynb", [code("x = 1", "step:a", "volume:data:/d:0.5Gi")])
    assert [(v.name, v.size) for v in load_notebook(nb).volumes] == [("data", "512Mi")]


# --- a Kale volume that cannot be mounted is an error: its steps' data would be lost


@pytest.mark.parametrize(
    ("item", "words"),
    [
        (_new_pvc(size="lots", size_type=""), "size 'lots'"),
        (_new_pvc(size="5Gi", size_type="Mi"), "'size_type' 'Mi'"),
        (_new_pvc(), "needs a 'size'"),
        (_new_pvc(name="My_Vol", size=1, size_type="Gi"), "lowercase letters"),
        ({"type": "pvc", "name": "claim", "mount_point": "data"}, "absolute folder path"),
        ({"type": "pvc", "mount_point": "/d"}, "needs a 'name' and a 'mount_point'"),
    ],
)
def test_a_kale_volume_that_cannot_be_mounted_is_an_error(
    tmp_path: Path, item: dict[str, Any], words: str
) -> None:
    nb = _kale(tmp_path, {"volumes": [item]})
    out = tmp_path / "k.yaml"
    r = kfpj("compile", nb, "-o", out)
    assert r.returncode == 2, r.stderr
    assert "'kubeflow_notebook.volumes[0]'" in r.stderr and "cannot be mounted" in r.stderr
    assert words in r.stderr
    assert "fix: correct it in the notebook metadata 'kubeflow_notebook.volumes'" in r.stderr
    assert "Traceback" not in r.stderr
    assert not out.exists()


def test_kale_volumes_that_are_not_a_list_are_an_error(tmp_path: Path) -> None:
    with pytest.raises(NotebookError, match=r"'kubeflow_notebook\.volumes' must be a list"):
        load_notebook(_kale(tmp_path, {"volumes": {"type": "pvc", "name": "c"}}))


def test_two_kale_volumes_at_one_mount_point_are_an_error(tmp_path: Path) -> None:
    kale = {
        "volumes": [
            {"type": "pvc", "name": "claim", "mount_point": "/d"},
            {"type": "pvc", "name": "claim2", "mount_point": "/d"},
        ]
    }
    with pytest.raises(NotebookError) as e:
        load_notebook(_kale(tmp_path, kale))
    text = str(e.value)
    assert "volumes[1]' (volume 'claim2') mounts at '/d'" in text
    assert "Kale's volume 'claim' is mounted already" in text


def test_a_kale_volume_where_ours_is_mounted_is_warned_about(tmp_path: Path) -> None:
    meta = {
        "kfp_jupyter": {"volumes": ["pvc/ours:/d"]},
        "kubeflow_notebook": {
            "pipeline_name": "k",
            "volumes": [{"type": "pvc", "name": "theirs", "mount_point": "/d"}],
        },
    }
    nb = make_notebook(tmp_path / "k.ipynb", [code("x = 1", "step:a")], meta)
    pipeline = load_notebook(nb)
    assert [v.name for v in pipeline.volumes] == ["ours"]
    warned = "\n".join(w.message for w in pipeline.warnings)
    assert "(volume 'theirs') is not mounted: 'kfp_jupyter.volumes' mounts 'pvc/ours:/d'" in warned


def test_annotations_of_a_new_kale_volume_are_warned_about(tmp_path: Path) -> None:
    annotated = _new_pvc(size=1, size_type="Gi", annotations=[{"key": "a", "value": "b"}])
    warned = _warned(_kale(tmp_path, {"volumes": [annotated]}))
    assert "'kubeflow_notebook.volumes[0].annotations' is ignored" in warned
    # Kale's panel writes an empty list for every volume: nothing to say then
    plain = _new_pvc(size=1, size_type="Gi", annotations=[])
    assert "annotations" not in _warned(_kale(tmp_path, {"volumes": [plain]}))


# --- Katib: Kale's panel writes katib_metadata on every save


def test_katib_metadata_is_warned_about_only_when_katib_runs(tmp_path: Path) -> None:
    katib = {"katib_metadata": {"parameters": [], "algorithm": {"algorithmName": "grid"}}}
    assert "katib" not in _warned(_kale(tmp_path, {**katib, "katib_run": False}))
    assert "katib" not in _warned(_kale(tmp_path, katib))
    warned = _warned(_kale(tmp_path, {**katib, "katib_run": True}))
    assert "'kubeflow_notebook.katib_run' is ignored" in warned
    assert "'kubeflow_notebook.katib_metadata' is ignored" in warned


# --- a parameter set to None


def test_a_none_parameter_is_refused_with_a_fix_for_none(tmp_path: Path) -> None:
    cells = [
        code("MAX_DEPTH = None\nN = 3", "pipeline-parameters"),
        code("x = N", "block:one"),
    ]
    r = kfpj("inspect", _kale(tmp_path, {}, cells))
    assert r.returncode == 2
    assert "parameter 'MAX_DEPTH' has type NoneType" in r.stderr
    assert "fix: give MAX_DEPTH a value of the type the step expects" in r.stderr
    assert "max_depth = MAX_DEPTH or None" in r.stderr
    assert "tuple" not in r.stderr


def test_a_tuple_parameter_is_still_told_to_be_a_list(tmp_path: Path) -> None:
    cells = [code("SHAPE = (3, 4)", "pipeline-parameters"), code("x = SHAPE", "block:one")]
    r = kfpj("inspect", _kale(tmp_path, {}, cells))
    assert r.returncode == 2
    assert "fix: use one of those types (a list instead of a tuple)" in r.stderr


# --- versions pinned here, on an image the notebook names


def _numpy_steps(tmp_path: Path, kale: dict[str, Any]) -> Path:
    cells = [
        code("import numpy as np", "imports"),
        code("a = np.arange(3)", "block:one"),
        code("b = float(a.sum())", "block:two", "prev:one"),
    ]
    return _kale(tmp_path, kale, cells)


def test_pins_on_an_image_the_notebook_names_are_warned_about_once(tmp_path: Path) -> None:
    nb = _numpy_steps(tmp_path, {"docker_image": "gcr.io/arrikto/jupyter-kale-py36:latest"})
    warned = _warned(nb)
    assert warned.count("install packages pinned to the versions installed here") == 1
    assert "'gcr.io/arrikto/jupyter-kale-py36:latest'" in warned
    assert f"with Python {HERE}" in warned and "Python 3.8 or newer" in warned
    assert "fix: compile with --no-pin" in warned
    assert "pinned to the versions" not in _warned(nb, "--no-pin")


@pytest.mark.parametrize("kale", [{}, {"docker_image": f"python:{HERE}-slim"}])
def test_no_pin_warning_on_the_default_image_or_one_of_this_python(
    tmp_path: Path, kale: dict[str, Any]
) -> None:
    assert "pinned to the versions" not in _warned(_numpy_steps(tmp_path, kale))


# --- relative paths: Kale runs each step in the notebook's folder on its volume

_FILES = [
    code("import numpy as np\nimport pandas as pd\nimport joblib", "imports"),
    code(
        "df = pd.read_csv('train.csv')\nraw = pd.read_csv('https://example.com/t.csv')\n"
        "ok = np.load('/data/x.npy')\nname = 'not_a_path.csv'\nn = len(df)",
        "block:load",
    ),
    code(
        "joblib.dump(n, 'model.joblib')\nwith open(name) as f:\n    pass", "block:save", "prev:load"
    ),
]


def test_relative_paths_in_a_kale_notebook_with_a_volume_are_warned_about(
    tmp_path: Path,
) -> None:
    volume = {"type": "pvc", "name": "workspace", "mount_point": "/home/jovyan"}
    pipeline = load_notebook(_kale(tmp_path, {"volumes": [volume]}, list(_FILES)))
    relative = {w.step: w for w in pipeline.warnings if "relative path" in w.message}
    assert set(relative) == {"load", "save"}
    assert relative["load"].message.startswith("relative path 'train.csv': Kale runs a step")
    assert relative["load"].cell == 2
    assert relative["save"].message.startswith("relative path 'model.joblib':")
    assert "absolute path on a mounted volume" in (relative["load"].fix or "")


def test_no_relative_path_warning_without_kales_volumes(tmp_path: Path) -> None:
    pipeline = load_notebook(_kale(tmp_path, {}, list(_FILES)))
    assert not [w for w in pipeline.warnings if "relative path" in w.message]
