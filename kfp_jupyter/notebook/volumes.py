"""How a step names a volume to mount (a `volume:` tag, a `--volume` option, notebook metadata).

One parser for every place a volume is written, so a volume means the same wherever it is said.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .limits import memory_amount

#: Kubernetes access modes of a volume, and the short forms kubectl prints.
ACCESS_MODES = {
    "readwriteonce": "ReadWriteOnce",
    "rwo": "ReadWriteOnce",
    "readonlymany": "ReadOnlyMany",
    "rox": "ReadOnlyMany",
    "readwritemany": "ReadWriteMany",
    "rwx": "ReadWriteMany",
    "readwriteoncepod": "ReadWriteOncePod",
    "rwop": "ReadWriteOncePod",
}


@dataclass(frozen=True)
class VolumeRef:
    """A volume a step mounts, as one tag or --volume option says it.

    `NAME:MOUNT_PATH[:SIZE[:STORAGE_CLASS[:ACCESS_MODE]]]` names a volume the pipeline creates for
    each run (its size said once, in any step or in the notebook metadata); `pvc/CLAIM:MOUNT_PATH`
    mounts an existing PersistentVolumeClaim.
    """

    volume: str
    path: str
    size: str | None = None
    storage_class: str | None = None
    access_mode: str | None = None
    claim: bool = False

    def text(self) -> str:
        if self.claim:
            return f"pvc/{self.volume}:{self.path}"
        parts = [self.volume, self.path, self.size or "", self.storage_class or ""]
        parts.append(self.access_mode or "")
        while parts[-1] == "":
            parts.pop()
        return ":".join(parts)


_VOLUME_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_K8S_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
_VOLUME_USAGE = (
    "NAME:MOUNT_PATH[:SIZE[:STORAGE_CLASS[:ACCESS_MODE]]] or pvc/CLAIM:MOUNT_PATH "
    "(e.g. data:/data:5Gi or pvc/shared:/shared)"
)


def parse_volume(text: str) -> VolumeRef:
    """Parse a volume mention (after 'volume:' or --volume); ValueError with the usage if bad."""
    parts = text.split(":")
    if len(parts) < 2 or not parts[0] or not parts[1]:
        raise ValueError(f"volume {text!r} must be {_VOLUME_USAGE}")
    head, path = parts[0], parts[1]
    if not path.startswith("/") or path == "/":
        raise ValueError(
            f"volume {text!r}: the mount path {path!r} must be an absolute folder path"
        )
    if head.startswith("pvc/"):
        return _existing_claim(text, parts)
    return _new_volume(text, parts)


def _existing_claim(text: str, parts: list[str]) -> VolumeRef:
    """`pvc/CLAIM:MOUNT_PATH`: a claim made outside the pipeline, so nothing more to say."""
    claim = parts[0][4:]
    if len(parts) > 2:
        raise ValueError(
            f"volume {text!r}: an existing claim takes no size, storage class or access mode"
        )
    if not _K8S_NAME_RE.match(claim) or len(claim) > 253:
        raise ValueError(f"volume {text!r}: {claim!r} is not a PersistentVolumeClaim name")
    return VolumeRef(claim, parts[1], claim=True)


def _new_volume(text: str, parts: list[str]) -> VolumeRef:
    """`NAME:MOUNT_PATH[:SIZE[:STORAGE_CLASS[:ACCESS_MODE]]]`: a volume the pipeline creates."""
    head, path = parts[0], parts[1]
    if len(parts) > 5:
        raise ValueError(f"volume {text!r} has too many ':' parts; it must be {_VOLUME_USAGE}")
    if not _VOLUME_NAME_RE.match(head) or len(head) > 63:
        raise ValueError(
            f"volume name {head!r} must be lowercase letters, digits and '-' (at most 63), "
            "starting and ending with a letter or digit"
        )
    size = parts[2] if len(parts) > 2 and parts[2] else None
    if size is not None:
        amount = memory_amount(size)
        if amount is None:
            raise ValueError(
                f"volume {text!r}: size {size!r} is not an amount such as 1Gi, 500Mi or 0.5Gi"
            )
        size = amount
    sc = parts[3] if len(parts) > 3 and parts[3] else None
    if sc is not None and not _K8S_NAME_RE.match(sc):
        raise ValueError(f"volume {text!r}: {sc!r} is not a storage class name")
    mode = parts[4] if len(parts) > 4 and parts[4] else None
    if mode is not None:
        if mode.lower() not in ACCESS_MODES:
            raise ValueError(
                f"volume {text!r}: access mode {mode!r} is not one of ReadWriteOnce, "
                "ReadOnlyMany, ReadWriteMany, ReadWriteOncePod"
            )
        mode = ACCESS_MODES[mode.lower()]
    if (sc or mode) and size is None:
        raise ValueError(f"volume {text!r}: give the size before the storage class and access mode")
    return VolumeRef(head, path, size, sc, mode)
