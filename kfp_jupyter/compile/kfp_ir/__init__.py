"""The `kfp` target: KFP v2 pipeline IR YAML, built straight from the pipeline model.

The IR (the `PipelineSpec` document and, for Kubernetes settings, a `PlatformSpec` document) is
KFP's public, versioned contract; it is written here as plain data, without the kfp SDK, which
compiling does not need. The tests judge it against the kfp SDK's own compiler: the `dsl` script
of the same notebook, run by `python`, writes the same IR.

    pipeline_spec.py  the PipelineSpec: components, executors, the DAG, parameters
    containers.py     component, container and resource steps' components and containers
    launcher.py       how a Python step's container installs the kfp runtime and calls the step
    settings.py       caching, retries, resources and accelerators
    platform.py       the PlatformSpec: timeouts, secrets, pod metadata, volumes
    names.py          task and component names, IR type names
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import yaml

from ...yamltext import SAFE_DUMPER
from .pipeline_spec import build

if TYPE_CHECKING:
    from ...model import Pipeline

#: no line is folded: the two writers fold long lines differently, and write the same text unfolded
_WIDTH = 2**31 - 1


def dump(documents: list[dict[str, object]], dumper: type = SAFE_DUMPER) -> str:
    return yaml.dump_all(documents, Dumper=dumper, sort_keys=True, width=_WIDTH)


def compile_kfp(pipeline: Pipeline) -> str:
    return dump(build(pipeline, pipeline.kfp_runtime))


__all__ = ["compile_kfp"]
