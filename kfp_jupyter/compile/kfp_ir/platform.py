"""The PlatformSpec document: what only Kubernetes understands, per executor (kfp-kubernetes' IR).

Timeouts, secrets as environment variables, pod labels and annotations, and volume mounts; and the
component that creates a volume for each run (KFP's backend recognises it by its image).
"""

from __future__ import annotations

from ...model import Pipeline, Step

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


def _pvc_mount(pipeline: Pipeline, step: Step, volume_tasks: dict[str, str]) -> list[object]:
    mounts: list[object] = []
    for m in step.mounts:
        volume = pipeline.volume(m.volume)
        if volume.claim is not None:
            mounts.append(
                {
                    "mountPath": m.path,
                    "constant": volume.claim,
                    "pvcNameParameter": {"runtimeValue": {"constant": volume.claim}},
                }
            )
        else:
            made = {"outputParameterKey": "name", "producerTask": volume_tasks[m.volume]}
            mounts.append(
                {
                    "mountPath": m.path,
                    "taskOutputParameter": made,
                    "pvcNameParameter": {"taskOutputParameter": dict(made)},
                }
            )
    return mounts


def executor_config(
    pipeline: Pipeline, step: Step, volume_tasks: dict[str, str]
) -> dict[str, object]:
    """The Kubernetes settings of one step's executor (empty when it has none)."""
    out: dict[str, object] = {}
    if step.timeout:
        out["activeDeadlineSeconds"] = str(step.timeout)
    if step.labels or step.annotations:
        metadata: dict[str, object] = {}
        if step.labels:
            metadata["labels"] = dict(sorted(step.labels.items()))
        if step.annotations:
            metadata["annotations"] = dict(sorted(step.annotations.items()))
        out["podMetadata"] = metadata
    if step.secrets:
        by_secret: dict[str, dict[str, str]] = {}
        for s in step.secrets:
            by_secret.setdefault(s.secret, {})[s.key] = s.env
        out["secretAsEnv"] = [
            {
                "secretName": secret,
                "secretNameParameter": {"runtimeValue": {"constant": secret}},
                "keyToEnv": [
                    {"secretKey": key, "envVar": env} for key, env in sorted(mapping.items())
                ],
                "optional": False,
            }
            for secret, mapping in sorted(by_secret.items())
        ]
    mounts = _pvc_mount(pipeline, step, volume_tasks)
    if mounts:
        out["pvcMount"] = mounts
    return out


def platform_spec(executors: dict[str, dict[str, object]]) -> dict[str, object]:
    return {"platforms": {"kubernetes": {"deploymentSpec": {"executors": executors}}}}
