"""Send a notebook's pipeline to a cluster: Kubeflow Pipelines (kfp.Client) or Argo Workflows (the
Kubernetes API), and follow it with the same events as a local run. A pipeline compiled already
(KFP IR YAML, Argo Workflow YAML, KFP DSL script: compiled.py) is submitted the same way.

`submit(...)` checks everything it can on this machine first (the notebook, the parameter names
and values, the schedule, where to connect and with which credentials) and compiles the pipeline,
so that an invalid submission sends nothing. Then it creates the run and returns a SubmitHandle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_getattr

__all__ = [
    "ENGINES",
    "AuthError",
    "ClusterError",
    "CompiledPipeline",
    "ConfigError",
    "FollowError",
    "InvalidSubmission",
    "NotFoundError",
    "RejectedError",
    "RequestTimeout",
    "SubmitHandle",
    "SubmitInfo",
    "Target",
    "UnexpectedAnswer",
    "UnknownRun",
    "UnreachableError",
    "attach",
    "get_target",
    "load_targets",
    "submit",
    "submittable",
]

if TYPE_CHECKING:
    from .compiled import CompiledPipeline as CompiledPipeline
    from .engines import ENGINES as ENGINES
    from .errors import AuthError as AuthError
    from .errors import ClusterError as ClusterError
    from .errors import ConfigError as ConfigError
    from .errors import FollowError as FollowError
    from .errors import InvalidSubmission as InvalidSubmission
    from .errors import NotFoundError as NotFoundError
    from .errors import RejectedError as RejectedError
    from .errors import RequestTimeout as RequestTimeout
    from .errors import UnexpectedAnswer as UnexpectedAnswer
    from .errors import UnreachableError as UnreachableError
    from .handle import SubmitHandle as SubmitHandle
    from .handle import SubmitInfo as SubmitInfo
    from .reattach import UnknownRun as UnknownRun
    from .reattach import attach as attach
    from .submission import submit as submit
    from .submission import submittable as submittable
    from .targets import Target as Target
    from .targets import get_target as get_target
    from .targets import load_targets as load_targets

# Loaded on first use: the clients (kfp, kubernetes) and the compilers load only when a pipeline
# is submitted or followed, not when a front end starts and reads a name from here.
_LAZY = {
    "ENGINES": ".engines",
    "AuthError": ".errors",
    "ClusterError": ".errors",
    "CompiledPipeline": ".compiled",
    "ConfigError": ".errors",
    "FollowError": ".errors",
    "InvalidSubmission": ".errors",
    "NotFoundError": ".errors",
    "RejectedError": ".errors",
    "RequestTimeout": ".errors",
    "SubmitHandle": ".handle",
    "SubmitInfo": ".handle",
    "Target": ".targets",
    "UnexpectedAnswer": ".errors",
    "UnknownRun": ".reattach",
    "UnreachableError": ".errors",
    "attach": ".reattach",
    "get_target": ".targets",
    "load_targets": ".targets",
    "submit": ".submission",
    "submittable": ".submission",
}
__getattr__ = lazy_getattr(__name__, _LAZY)
