"""The PlatformSpec document: what only Kubernetes understands, per executor (kfp-kubernetes' IR).

Timeouts, secrets as environment variables, pod labels and annotations, and volume mounts; and the
component that creates a volume for each run (KFP's backend recognises it by its image).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..shared import compact, pod_metadata, secrets_by_name

if TYPE_CHECKING:
    from ...model import Pipeline, Step, Volume

#: KFP's backend runs a component with this image as "create a PersistentVolumeClaim"
CREATE_PVC_IMAGE = "argostub/createpvc"


def create_pvc_component() -> dict[str, object]:
    """The inputs of kfp-kubernetes' CreatePVC component (its texts of documentation aside)."""
    optional = {"isOptional": True}
    return {
        "inputDefinitions": {
            "parameters": {
                "access_modes": {"parameterType": "LIST"},
                "annotations": {"parameterType": "STRUCT", **optional},
                "data_source": {"parameterType": "STRUCT", **optional},
                "pvc_name": {"parameterType": "STRING", **optional},
                "pvc_name_suffix": {"parameterType": "STRING", **optional},
                "size": {"parameterType": "STRING"},
                "storage_class_name": {
                    "parameterType": "STRING",
                    "defaultValue": "",
                    **optional,
                },
                "volume_name": {"parameterType": "STRING", **optional},
            }
        },
        "outputDefinitions": {"parameters": {"name": {"parameterType": "STRING"}}},
    }


def create_pvc_arguments(volume: Volume) -> dict[str, object]:
    """The arguments of the CreatePVC task that makes `volume` for each run (both KFP targets)."""
    return {
        "pvc_name_suffix": f"-{volume.name}",
        "access_modes": [volume.access_mode],
        "size": volume.size,
        **compact({"storage_class_name": volume.storage_class}),
    }


def _pvc_mount(pipeline: Pipeline, step: Step, volume_tasks: dict[str, str]) -> list[object]:
    mounts: list[object] = []
    for m in step.mounts:
        claim = pipeline.volume(m.volume).claim
        source: dict[str, object]
        if claim is not None:
            source = {"constant": claim, "pvcNameParameter": {"runtimeValue": {"constant": claim}}}
        else:
            made = {"outputParameterKey": "name", "producerTask": volume_tasks[m.volume]}
            # a copy: the same object twice would be written as a YAML anchor and alias
            source = {
                "taskOutputParameter": made,
                "pvcNameParameter": {"taskOutputParameter": dict(made)},
            }
        mounts.append({"mountPath": m.path, **source})
    return mounts


def executor_config(
    pipeline: Pipeline, step: Step, volume_tasks: dict[str, str]
) -> dict[str, object]:
    secrets = [
        {
            "secretName": secret,
            "secretNameParameter": {"runtimeValue": {"constant": secret}},
            "keyToEnv": [{"secretKey": key, "envVar": env} for key, env in keys.items()],
            "optional": False,
        }
        for secret, keys in secrets_by_name(step)
    ]
    return compact(
        {
            "activeDeadlineSeconds": str(step.timeout) if step.timeout else "",
            "podMetadata": pod_metadata(step),
            "secretAsEnv": secrets,
            "pvcMount": _pvc_mount(pipeline, step, volume_tasks),
        }
    )


def platform_spec(executors: dict[str, dict[str, object]]) -> dict[str, object]:
    return {"platforms": {"kubernetes": {"deploymentSpec": {"executors": executors}}}}
