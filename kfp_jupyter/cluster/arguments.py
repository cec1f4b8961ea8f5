"""A run's parameter values, typed and checked against the pipeline before anything is sent.

A cluster would accept a misspelt parameter name and ignore it, or fail the run an hour later on a
value of the wrong type; so both are refused here, on this machine, with the pipeline's own
parameter list in the message. The checking itself is shared with local runs (params.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..params import ParameterError, resolve_values
from .errors import InvalidSubmission

if TYPE_CHECKING:
    from ..model import Pipeline


def resolve_arguments(pipeline: Pipeline, given: Mapping[str, object] | None) -> dict[str, Any]:
    """Every parameter's value for the run: its default, or the value given, typed."""
    try:
        return resolve_values(pipeline.parameters, given)
    except ParameterError as e:
        raise InvalidSubmission(str(e), fields=e.problems) from None
