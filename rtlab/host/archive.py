"""rtlab's offline busybox image as a docker-archive (``docker save`` format).

docker load, ctr import and podman load all read it; daemons.import_images puts
it into every client's store. Reproducible: owner root, mtime 0, sorted, so the
image id changes only with the rootfs. daemons.py re-exports these names.
"""

from __future__ import annotations

import hashlib
import io
import json
import platform
import tarfile
from pathlib import Path

from rtlab.core import image
from rtlab.core.image import STATE_DIR
from rtlab.core.workload import DEFAULT_IMAGE

ARCHIVE_PATH = STATE_DIR / "image" / "busybox-docker-archive.tar"


def _arch() -> str:
    machine = platform.machine()
    return {
        "x86_64": "amd64",
        "aarch64": "arm64",
        "armv7l": "arm",
        "ppc64le": "ppc64le",
        "s390x": "s390x",
        "riscv64": "riscv64",
    }.get(machine, machine)


def add_tree(tf: tarfile.TarFile, root: Path) -> None:
    """Add every file and folder under ``root`` to ``tf``, reproducibly (owner root,
    mtime 0, sorted): the same rootfs gives the same bytes."""
    for path in sorted(root.rglob("*")):
        info = tf.gettarinfo(str(path), arcname=path.relative_to(root).as_posix())
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        info.mtime = 0
        if info.isfile():
            with path.open("rb") as f:
                tf.addfile(info, f)
        else:
            tf.addfile(info)


def _layer_tar(root: Path) -> bytes:
    """The rootfs as one reproducible tar layer (owner root, mtime 0, sorted)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        add_tree(tf, root)
    return buf.getvalue()


def build_archive(
    ref: str = DEFAULT_IMAGE,
    *,
    path: Path = ARCHIVE_PATH,
    cmd: tuple[str, ...] = ("sh",),
    state_dir: Path = STATE_DIR,
) -> tuple[Path, str]:
    """A docker-archive (``docker save`` format) of the busybox rootfs: (path, image id).

    docker load, ctr import and podman load all read it. Rebuilt only when
    missing or when the rootfs changed (its fingerprint is a label, so the
    image id changes with it). ``cmd`` is the image's command (the CRI's pause
    image sleeps); ``path`` and ``state_dir`` (where the rootfs is built) let
    rtlab's CRI containerd keep its own copies (cri.py).
    """
    root = image.build_rootfs(state_dir)
    fingerprint = (root.parent / "busybox.sha256").read_text().strip()
    stamp = path.with_suffix(".id")
    if path.is_file() and stamp.is_file():
        recorded_fp, _, image_id = stamp.read_text().strip().partition(" ")
        if recorded_fp == fingerprint and image_id:
            return path, image_id
    layer = _layer_tar(root)
    diff_id = hashlib.sha256(layer).hexdigest()
    epoch = "1970-01-01T00:00:00Z"
    config = {
        "architecture": _arch(),
        "os": "linux",
        "created": epoch,
        "config": {
            "Env": ["PATH=/bin"],
            "Cmd": list(cmd),
            "WorkingDir": "/",
            "Labels": {"rtlab.image": "busybox", "rtlab.rootfs": fingerprint},
        },
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{diff_id}"]},
        "history": [{"created": epoch, "created_by": "rtlab: busybox-static rootfs"}],
    }
    config_bytes = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
    config_hex = hashlib.sha256(config_bytes).hexdigest()
    manifest = [
        {"Config": f"{config_hex}.json", "RepoTags": [ref], "Layers": [f"{diff_id}/layer.tar"]}
    ]
    tmp = path.with_suffix(".tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(tmp, "w") as out:
        for name, data in (
            (f"{config_hex}.json", config_bytes),
            (f"{diff_id}/layer.tar", layer),
            ("manifest.json", json.dumps(manifest).encode()),
        ):
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            out.addfile(info, io.BytesIO(data))
    tmp.replace(path)
    image_id = f"sha256:{config_hex}"
    stamp.write_text(f"{fingerprint} {image_id}\n")
    return path, image_id
