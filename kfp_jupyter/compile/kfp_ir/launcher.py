"""The lightweight-component launcher: how a Python step's container starts its function.

This is the protocol the kfp SDK writes for `@dsl.component` functions, and the one KFP's
backend expects: a shell script installs the step's packages and the kfp runtime, then
`kfp.dsl.executor_main` loads the function's source from the command line and calls it with the
executor input. The kfp runtime installed is kfp-jupyter's pin (`Pipeline.kfp_runtime`), not
whatever kfp SDK happens to be installed where the notebook is compiled, so one notebook gives
one IR on every machine.
"""

from __future__ import annotations

import re

#: A version (`2.14.6`) means `kfp==VERSION` installed as kfp installs its own runtime, without
#: its dependencies (the runtime needs none); anything else is a pip requirement used as it is.
_VERSION = re.compile(r"^\d+(\.\d+)*([a-z]+\d*)?(\.post\d+|\.dev\d+)?$")

_ENSURE_PIP = (
    '\nif ! [ -x "$(command -v pip)" ]; then\n'
    "    python3 -m ensurepip || python3 -m ensurepip --user || apt-get install python3-pip\n"
    "fi\n\n"
)

#: The second stage: write the function's source (the next argument) to a file and run it.
_CONTINUATION = " " * 25
LAUNCH_SCRIPT = (
    "program_path=$(mktemp -d)\n\n"
    'printf "%s" "$0" > "$program_path/ephemeral_component.py"\n'
    f"_KFP_RUNTIME=true python3 -m kfp.dsl.executor_main{_CONTINUATION}"
    f"--component_module_path{_CONTINUATION}"
    f'"$program_path/ephemeral_component.py"{_CONTINUATION}"$@"\n'
)

#: What the function's source starts with: kfp's executor finds its names there.
SOURCE_PREAMBLE = (
    "\nimport kfp\nfrom kfp import dsl\nfrom kfp.dsl import *\nfrom typing import *\n\n"
)

#: The executor input, filled in by KFP's launcher when the task runs.
EXECUTOR_INPUT = "{{$}}"


#: what a version's runtime is installed with, as kfp installs its own
_VERSION_EXTRAS = ("--no-deps", 'typing-extensions>=3.7.4,<5; python_version<"3.9"')


def is_version(runtime: str) -> bool:
    return bool(_VERSION.match(runtime))


def runtime_requirement(runtime: str) -> str:
    return f"kfp=={runtime}" if is_version(runtime) else runtime


def _pip_install(parts: list[str]) -> str:
    # each part quoted as a Python literal, the way the kfp SDK writes them
    return "python3 -m pip install --quiet --no-warn-script-location " + " ".join(
        repr(p) for p in parts
    )


def install_command(packages: tuple[str, ...], runtime: str) -> list[str]:
    """The first stage: install the step's packages, then the kfp runtime (unless a package of
    the step is itself a kfp distribution), then run the rest of the command line."""
    installs = [list(packages)] if packages else []
    if not any(p.startswith("kfp") for p in packages):
        extras = _VERSION_EXTRAS if is_version(runtime) else ()
        installs.append([runtime_requirement(runtime), *extras])
    if not installs:
        return []
    # two spaces around `&&`, as the kfp SDK writes them
    commands = "  &&  ".join(map(_pip_install, installs))
    script = f'{_ENSURE_PIP}PIP_DISABLE_PIP_VERSION_CHECK=1 {commands} && "$0" "$@"\n'
    return ["sh", "-c", script]


def python_container(
    image: str, packages: tuple[str, ...], runtime: str, function: str, source: str
) -> dict[str, object]:
    """The container of a Python step: `source` is the step function's text, `function` its name."""
    return {
        "image": image,
        "command": [
            *install_command(packages, runtime),
            "sh",
            "-ec",
            LAUNCH_SCRIPT,
            SOURCE_PREAMBLE + source + "\n",
        ],
        "args": ["--executor_input", EXECUTOR_INPUT, "--function_to_execute", function],
    }
