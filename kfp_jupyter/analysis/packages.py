"""Which pip packages a step needs, from the modules its code imports, pinned to the versions
installed here (see environment.py) unless pinning is off.

The distribution that provides a module is read from this environment where the module is
installed; the static table below names it where it is not (then without a version).
"""

from __future__ import annotations

import ast
import functools
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import Problem
from ..notebook.step_settings import requirement_key
from .environment import environment_stamp, installed

#: import name -> distribution name, where they differ
DISTRIBUTIONS: dict[str, str] = {
    "sklearn": "scikit-learn",
    "skimage": "scikit-image",
    "cv2": "opencv-python-headless",
    "PIL": "pillow",
    "yaml": "pyyaml",
    "bs4": "beautifulsoup4",
    "dateutil": "python-dateutil",
    "grpc": "grpcio",
    "absl": "absl-py",
    "hydra": "hydra-core",
    "snowflake.connector": "snowflake-connector-python",
    "llama_cpp": "llama-cpp-python",
    "ruamel.yaml": "ruamel.yaml",
    "attr": "attrs",
    "Bio": "biopython",
    "dotenv": "python-dotenv",
    "jwt": "pyjwt",
    "magic": "python-magic",
    "serial": "pyserial",
    "sentencepiece": "sentencepiece",
    "tensorflow_datasets": "tensorflow-datasets",
    "xgboost": "xgboost",
    "lightgbm": "lightgbm",
    "catboost": "catboost",
    "mpl_toolkits": "matplotlib",
    "pkg_resources": "setuptools",
    "google.protobuf": "protobuf",
    "google.oauth2": "google-auth",
    "google.rpc": "googleapis-common-protos",
    "google.api": "googleapis-common-protos",
    "google.type": "googleapis-common-protos",
    "OpenSSL": "pyopenssl",
    "Crypto": "pycryptodome",
    "docx": "python-docx",
    "pptx": "python-pptx",
    "fitz": "pymupdf",
    "umap": "umap-learn",
    "hdbscan": "hdbscan",
    "skopt": "scikit-optimize",
    "imblearn": "imbalanced-learn",
    "git": "gitpython",
    "zmq": "pyzmq",
    "faiss": "faiss-cpu",
    "googleapiclient": "google-api-python-client",
    "osgeo": "gdal",
    "nacl": "pynacl",
    "kafka": "kafka-python",
    "websocket": "websocket-client",
    "MySQLdb": "mysqlclient",
    "jose": "python-jose",
    "slugify": "python-slugify",
    "OpenGL": "pyopengl",
    "kfp_jupyter": "",  # never inside a component
    # A step that imports IPython (`from IPython.display import HTML`) needs it installed to run.
    "IPython": "ipython",
}

#: Namespace packages whose distributions are named after the sub-package (the first that
#: matches; `google.oauth2` and the like, provided by a distribution of another name, are in
#: DISTRIBUTIONS, which is read first).
NAMESPACES = {"google.cloud": "google-cloud-", "google": "google-", "azure": "azure-"}
#: Namespaces that, imported bare, provide nothing of their own to install.
_BARE_NAMESPACES = frozenset({"google", "google.cloud", "azure", "snowflake", "ruamel"})

#: Packages whose objects other packages need to load back (a DataFrame saved as parquet needs pyarrow).
COMPANIONS: dict[str, tuple[str, ...]] = {"pandas": ("pyarrow",)}

_STDLIB = frozenset(getattr(sys, "stdlib_module_names", ())) | {"__future__"}


def _imported_by_call(node: ast.Call) -> str | None:
    """The module a call imports by a literal name: `importlib.import_module("m")` (or
    `import_module("m")` imported from importlib) and `__import__("m")`. Its package must be
    installed, and a local module's edits must reach the cache key, as for an import statement;
    a name computed at run time cannot be known here."""
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    if name not in ("import_module", "__import__") or not node.args:
        return None
    if isinstance(func, ast.Attribute) and not (
        isinstance(func.value, ast.Name) and func.value.id == "importlib"
    ):
        return None
    first = node.args[0]
    if not isinstance(first, ast.Constant) or not isinstance(first.value, str):
        return None
    module = first.value.strip()
    named = module and all(part.isidentifier() for part in module.split("."))
    return module if named else None  # a relative name (".sub") is its package's


@functools.lru_cache(maxsize=4096)
def imported_modules(code: str) -> tuple[str, ...]:
    """Modules imported anywhere in `code` (also inside functions), by statements and by
    calls with a literal name (`_imported_by_call`).

    Cached: the imports and functions cells are part of every step's code.
    """
    if "import" not in code:
        return ()
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return ()
    out: dict[str, None] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            called = _imported_by_call(node)
            if called is not None:
                out[called] = None
        elif isinstance(node, ast.Import):
            for a in node.names:
                out[a.name] = None
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module in _BARE_NAMESPACES:  # `from google.cloud import storage`
                for a in node.names:
                    out[f"{node.module}.{a.name}"] = None
            else:
                out[node.module] = None
    return tuple(out)


def distribution_for(module: str) -> str | None:
    """The pip distribution that provides `module` (dotted), or None for the standard library."""
    top = module.split(".")[0]
    if top in _STDLIB or module in _BARE_NAMESPACES:
        return None
    two = ".".join(module.split(".")[:2])
    if two in DISTRIBUTIONS:
        return DISTRIBUTIONS[two] or None
    for space, prefix in NAMESPACES.items():
        if module.startswith(space + "."):
            rest = module[len(space) + 1 :].split(".")
            # azure.storage.blob -> azure-storage-blob; google.cloud.storage -> google-cloud-storage
            parts = rest if space == "azure" else rest[:1]
            return prefix + "-".join(p.replace("_", "-").lower() for p in parts)
    if top in DISTRIBUTIONS:
        return DISTRIBUTIONS[top] or None
    return top.replace("_", "-").lower()


@dataclass(frozen=True)
class Unpinnable:
    """A package installed here from somewhere a cluster cannot fetch it by name and version."""

    module: str
    distribution: str
    origin: str

    def problem(self, step: str) -> Problem:
        """The warning a step that imports it gets: why, and what to do instead."""
        return Problem(
            f"package {self.distribution!r} (imported as {self.module!r}) is installed here from "
            f"{self.origin}, which a step's container cannot install by name and version",
            step=step,
            fix=f"publish it and pin it in 'packages:{self.distribution}==VERSION', or build it "
            "into the step's image",
        )


def _requirement(
    module: str, static: str, stamp: tuple[int, ...], odd: list[Unpinnable], *, pin: bool
) -> tuple[str, str]:
    """(normalised name, requirement) for the distribution providing `module`, named as installed
    in this environment (`stamp`, see environment.py) where it is, and then pinned when `pin`:
    not pinning keeps the right name (`markdown_it` is markdown-it-py either way)."""
    found = installed(module, (static,), stamp)
    if found is None:
        return requirement_key(static), static
    name = requirement_key(found.name)
    if found.origin is not None:
        odd.append(Unpinnable(module, name, found.origin))
        return name, name
    return name, f"{name}=={found.version}" if pin else name


def resolve_packages(
    codes: Sequence[str],
    explicit: tuple[str, ...],
    *,
    marshalling: bool,
    local_modules: frozenset[str] = frozenset(),
    pin: bool = False,
    unpinnable: list[Unpinnable] | None = None,
    wanted: tuple[str, ...] = (),
) -> tuple[str, ...]:
    """Packages the `codes` import, with explicit requirements (notebook, then step) replacing
    same-named ones, and `wanted` ones (a pip line's, without a version) added where the code
    imports no package of that name: they leave this environment's pin as it is; each pinned to the installed version when `pin`. Packages installed from a
    local folder or a VCS are added to `unpinnable`, pinned or not: a container cannot install
    them by name.

    `local_modules` are modules that are files next to the notebook: not on PyPI under that name.
    """
    odd: list[Unpinnable] = []
    found: dict[str, str] = {}
    stamp = environment_stamp()
    for module in (m for code in codes for m in imported_modules(code)):
        if module.split(".")[0] in local_modules:
            continue
        dist = distribution_for(module)
        if dist:
            name, req = _requirement(module, dist, stamp, odd, pin=pin)
            found.setdefault(name, req)
    extra = [c for req in list(found) for c in COMPANIONS.get(req, ())]
    for module in [*extra, *(["cloudpickle"] if marshalling else [])]:
        name, req = _requirement(module, module, stamp, odd, pin=pin)
        found.setdefault(name, req)
    for req in explicit:
        found[requirement_key(req)] = req
    for req in wanted:
        found.setdefault(requirement_key(req), req)
    if unpinnable is not None:  # a requirement the notebook states settles it
        named = {requirement_key(r) for r in explicit}
        unpinnable += [u for u in odd if u.distribution not in named]
    return tuple(found[k] for k in sorted(found))


#: pip install options that change nothing a step installs (`-q`, `-U`, ...): left aside
_PIP_QUIET_FLAGS = frozenset(
    {
        *("-q", "--quiet", "-v", "--verbose", "-U", "--upgrade", "--user", "--pre", "--no-deps"),
        *("--force-reinstall", "-I", "--ignore-installed", "--no-cache-dir", "--compile"),
        *("--no-warn-script-location", "--no-warn-conflicts", "--disable-pip-version-check"),
        *(
            "--no-input",
            "--no-color",
            "--isolated",
            "--break-system-packages",
            "--no-build-isolation",
        ),
    }
)
_PIP_QUIET_VALUED = frozenset(
    {
        *("--upgrade-strategy", "--progress-bar", "--timeout", "--retries", "--cache-dir"),
        *("--log", "--exists-action", "--root-user-action", "--proxy", "--trusted-host"),
        *("--only-binary", "--no-binary"),
    }
)
#: options whose value is where packages come from, or where they go: a step cannot follow them
_PIP_SOURCE_VALUED = frozenset(
    {
        *("-r", "--requirement", "-e", "--editable", "-c", "--constraint", "-i", "--index-url"),
        *("--extra-index-url", "-f", "--find-links", "-t", "--target", "--prefix", "--root"),
    }
)
#: a requirement by name, as a `packages:` tag takes it: `xgboost`, `scikit-learn==1.0.2`,
#: `pandas>=2,<3`, `ray[tune]==2.9`
_REQUIREMENT_RE = re.compile(
    r"^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?(?:\[[A-Za-z0-9._,-]+\])?"
    r"(?:\s*(?:===?|~=|!=|<=?|>=?)\s*[A-Za-z0-9.*+!-]+"
    r"(?:\s*,\s*(?:===?|~=|!=|<=?|>=?)\s*[A-Za-z0-9.*+!-]+)*)?$"
)


#: what installs packages, not what a step's code needs (`%pip install -U pip setuptools wheel`)
_PIP_ITSELF = frozenset({"pip", "setuptools", "wheel"})


@dataclass(frozen=True)
class PipInstall:
    """A `pip install` line of the notebook, read as the requirements a step can install."""

    #: the line as the notebook has it
    command: str
    #: requirements by name (and version), as `packages:` tags state them
    requirements: tuple[str, ...]
    #: what is not a requirement by name (`-r requirements.txt`, `-e .`, a URL): left out
    dropped: tuple[str, ...]


def read_pip_install(command: str, args: Sequence[str]) -> PipInstall:
    """Split a pip line's arguments into requirements and what a step cannot install by name;
    options that change nothing installed (`-q`, `-U`) are left aside."""
    reqs: list[str] = []
    dropped: list[str] = []
    it = iter(args)
    for word in it:
        option, eq, _ = word.partition("=")
        if word in _PIP_QUIET_FLAGS or (eq and option in _PIP_QUIET_VALUED):
            continue
        if word in _PIP_QUIET_VALUED:
            next(it, None)
        elif word in _PIP_SOURCE_VALUED:
            dropped.append(f"{word} {next(it, '')}".strip())
        elif word.startswith("-") or not _REQUIREMENT_RE.match(word):
            dropped.append(word)  # another option, a URL, a path, a file, a `{variable}`
        elif requirement_key(word) not in _PIP_ITSELF:
            reqs.append(re.sub(r"\s+", "", word))
    return PipInstall(command, tuple(reqs), tuple(dropped))


def has_version(requirement: str) -> bool:
    """Whether a requirement states a version (`x==1.2`, `x>=2`), not only a name."""
    return bool(re.search(r"[<>=!~]", requirement))
