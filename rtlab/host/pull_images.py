"""The pull experiment's images (issue 33), made offline and pushed to rtlab's registry.

Each image is rtlab's busybox rootfs (with a marker file, so its layer is not the
imported busybox image's) plus, for a size
above 0, one layer holding a single file of incompressible pseudo-random bytes of
that size (``random.Random(seed)``: the same size and seed give the same bytes, so
the same digests). rtlab writes each image as an OCI layout with uncompressed
layers (``/var/lib/rtlab/pull/layouts/<size>``), compresses each layer once per
compression (gzip level 6 with Python's gzip, Go's default as docker's and
skopeo's; zstd level 3 with Debian's ``zstd``) and pushes config, layers and an
OCI manifest to rtlab's registry (registry.py) through distribution's HTTP API
(HEAD, POST + PUT of each blob, PUT of the manifest). Not ``skopeo copy
--dest-compress-format zstd``: skopeo 1.9 reuses the gzip blob the registry already
holds for the same uncompressed layer (its blob-info cache), so the "zstd" image
came out gzip. What the registry then holds is read back from it: the manifest's
digest, each layer's media type and compressed size; the uncompressed sizes are
the layout's.

Stdlib only (the measurement half).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import random
import shutil
import subprocess
import tarfile
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from rtlab.core import image
from rtlab.core.image import STATE_DIR
from rtlab.host import archive, registry

Say = Callable[[str], None]

LAYOUTS = STATE_DIR / "pull" / "layouts"
REPOSITORY = "rtlab/pull"
COMPRESSIONS = ("gzip", "zstd")
CHUNK = 1 << 20
PUSH_TIMEOUT_S = 600.0
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"


@dataclass(frozen=True)
class PulledImage:
    """One image in rtlab's registry, as run.json's ``pull_images`` records it."""

    ref: str  # what a client pulls: 127.0.0.1:PORT/rtlab/pull:TAG
    size_bytes: int  # the random layer's file (0: busybox only)
    compression: str
    digest: str  # the manifest's, as the registry serves it
    layers: int
    compressed_bytes: int  # the layers as stored and sent
    uncompressed_bytes: int  # the layers' tars
    media_types: tuple[str, ...]

    def record(self) -> dict:
        out = asdict(self)
        out["media_types"] = list(self.media_types)
        return out


def tag(size_bytes: int, compression: str) -> str:
    return f"s{size_bytes}-{compression}"


def _random_chunks(size_bytes: int, seed: int) -> Iterator[bytes]:
    rng = random.Random(seed)
    left = size_bytes
    while left > 0:
        n = min(CHUNK, left)
        yield rng.randbytes(n)
        left -= n


def _write_blob(blobs: Path, chunks: Iterator[bytes]) -> tuple[str, int]:
    """Stream ``chunks`` into the layout's blobs; (``sha256:…``, size)."""
    blobs.mkdir(parents=True, exist_ok=True)
    tmp = blobs / "incoming.tmp"
    digest = hashlib.sha256()
    size = 0
    with tmp.open("wb") as f:
        for chunk in chunks:
            digest.update(chunk)
            f.write(chunk)
            size += len(chunk)
    hexdigest = digest.hexdigest()
    tmp.replace(blobs / hexdigest)
    return f"sha256:{hexdigest}", size


def _random_layer(size_bytes: int, seed: int) -> Iterator[bytes]:
    """A tar of one file, ``/rtlab-random.bin``, of ``size_bytes`` random bytes."""
    info = tarfile.TarInfo("rtlab-random.bin")
    info.size, info.mtime, info.mode = size_bytes, 0, 0o644
    info.uname = info.gname = "root"
    yield info.tobuf(format=tarfile.PAX_FORMAT)
    yield from _random_chunks(size_bytes, seed)
    if size_bytes % tarfile.BLOCKSIZE:
        yield b"\0" * (tarfile.BLOCKSIZE - size_bytes % tarfile.BLOCKSIZE)
    yield b"\0" * (2 * tarfile.BLOCKSIZE)


MARKER = "etc/rtlab-pull-image"


def base_layer(rootfs: Path) -> bytes:
    """The busybox rootfs as one tar layer plus a marker file, so its digest is not the
    layer of rtlab's imported busybox image (archive.py): a store that keeps that image
    would otherwise hold the pull image's first layer already, and no pull would be cold."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        archive.add_tree(tf, rootfs)
        data = b"rtlab pull experiment image (issue 33)\n"
        info = tarfile.TarInfo(MARKER)
        info.size, info.mtime, info.mode = len(data), 0, 0o644
        info.uname = info.gname = "root"
        tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _json_blob(blobs: Path, value: dict) -> tuple[str, int]:
    data = json.dumps(value, sort_keys=True, separators=(",", ":")).encode()
    return _write_blob(blobs, iter([data]))


def build_layout(size_bytes: int, seed: int = 0, root: Path = LAYOUTS) -> tuple[Path, int]:
    """The OCI layout of the busybox image plus ``size_bytes`` random bytes (reused when
    made before from the same rootfs, size and seed); (its folder, uncompressed bytes)."""
    rootfs = image.build_rootfs()
    fingerprint = (rootfs.parent / "busybox.sha256").read_text().strip()
    key = f"{fingerprint} {size_bytes} {seed} marked"
    layout = root / f"s{size_bytes}"
    stamp = layout / "rtlab.stamp"
    if stamp.is_file() and stamp.read_text().split("\n")[0] == key:
        return layout, int(stamp.read_text().split("\n")[1])
    shutil.rmtree(layout, ignore_errors=True)
    blobs = layout / "blobs" / "sha256"
    layers = [_write_blob(blobs, iter([base_layer(rootfs)]))]
    if size_bytes > 0:
        layers.append(_write_blob(blobs, _random_layer(size_bytes, seed)))
    epoch = "1970-01-01T00:00:00Z"
    config = {
        "architecture": archive._arch(),
        "os": "linux",
        "created": epoch,
        "config": {"Env": ["PATH=/bin"], "Cmd": ["sh"], "WorkingDir": "/"},
        "rootfs": {"type": "layers", "diff_ids": [d for d, _ in layers]},
        "history": [{"created": epoch, "created_by": "rtlab: pull image"} for _ in layers],
    }
    config_digest, config_size = _json_blob(blobs, config)
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest,
            "size": config_size,
        },
        "layers": [{"mediaType": OCI_LAYER, "digest": d, "size": n} for d, n in layers],
    }
    manifest_digest, manifest_size = _json_blob(blobs, manifest)
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": OCI_MANIFEST,
                "digest": manifest_digest,
                "size": manifest_size,
                "annotations": {"org.opencontainers.image.ref.name": "latest"},
            }
        ],
    }
    (layout / "index.json").write_text(json.dumps(index))
    (layout / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    uncompressed = sum(n for _, n in layers)
    stamp.write_text(f"{key}\n{uncompressed}\n")
    return layout, uncompressed


def compressed_blob(layout: Path, digest: str, compression: str) -> tuple[str, int]:
    """The layer ``digest`` of ``layout`` compressed (gzip level 6, as Go's default that
    docker and skopeo use; zstd level 3, zstd's default), made once and kept in the
    layout's blobs; (``sha256:…``, size)."""
    blobs = layout / "blobs" / "sha256"
    source = blobs / digest.removeprefix("sha256:")
    known = layout / compression / digest.removeprefix("sha256:")
    if known.is_file():
        made = known.read_text().strip()
        if (blobs / made.removeprefix("sha256:")).is_file():
            return made, (blobs / made.removeprefix("sha256:")).stat().st_size
    tmp = blobs / f"{compression}.tmp"
    if compression == "gzip":
        with source.open("rb") as src, tmp.open("wb") as raw:
            with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6, mtime=0) as out:
                shutil.copyfileobj(src, out, CHUNK)
    elif compression == "zstd":
        subprocess.run(
            ["zstd", "-q", "-3", "-f", "-o", str(tmp), str(source)],
            check=True,
            capture_output=True,
            timeout=PUSH_TIMEOUT_S,
        )
    else:
        raise ValueError(f"compression {compression!r}: gzip or zstd")
    digest_out = _file_digest(tmp)
    size = tmp.stat().st_size
    tmp.replace(blobs / digest_out.removeprefix("sha256:"))
    known.parent.mkdir(parents=True, exist_ok=True)
    known.write_text(digest_out + "\n")
    return digest_out, size


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            h.update(chunk)
    return f"sha256:{h.hexdigest()}"


def compressed_manifest(layout: Path, compression: str) -> tuple[dict, list[tuple[str, int]]]:
    """The layout's manifest with every layer compressed; (manifest, its blobs to upload:
    the config and the compressed layers, as (digest, size))."""
    index = json.loads((layout / "index.json").read_text())
    blobs = layout / "blobs" / "sha256"
    digest = index["manifests"][0]["digest"].removeprefix("sha256:")
    manifest = json.loads((blobs / digest).read_text())
    layers = []
    for layer in manifest["layers"]:
        d, n = compressed_blob(layout, layer["digest"], compression)
        layers.append({"mediaType": f"{OCI_LAYER}+{compression}", "digest": d, "size": n})
    manifest = {**manifest, "layers": layers}
    config = manifest["config"]
    uploads = [(config["digest"], config["size"]), *((x["digest"], x["size"]) for x in layers)]
    return manifest, uploads


def _request(
    method: str, url: str, body=None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str]]:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=PUSH_TIMEOUT_S) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}
    except urllib.error.HTTPError as exc:
        return exc.code, {}
    except OSError as exc:
        raise registry.RegistryError(f"{method} {url}: {exc}") from exc


def upload_blob(address: str, repo: str, blobs: Path, digest: str, size: int) -> None:
    """One blob into ``repo`` (distribution's API: HEAD, then a monolithic POST + PUT)."""
    base = f"http://{address}/v2/{repo}/blobs"
    status, _ = _request("HEAD", f"{base}/{digest}")
    if status == 200:
        return
    status, headers = _request("POST", f"{base}/uploads/")
    location = headers.get("location", "")
    if status != 202 or not location:
        raise registry.RegistryError(f"the registry refused an upload to {repo}: HTTP {status}")
    if location.startswith("/"):
        location = f"http://{address}{location}"
    sep = "&" if "?" in location else "?"
    with (blobs / digest.removeprefix("sha256:")).open("rb") as f:
        status, _ = _request(
            "PUT",
            f"{location}{sep}digest={digest}",
            f,
            {"Content-Type": "application/octet-stream", "Content-Length": str(size)},
        )
    if status != 201:
        raise registry.RegistryError(f"the registry refused blob {digest} in {repo}: HTTP {status}")


def push_image(address: str, layout: Path, compression: str, image_tag: str) -> None:
    """The layout's image, its layers in ``compression``, as ``REPOSITORY:image_tag``."""
    manifest, uploads = compressed_manifest(layout, compression)
    blobs = layout / "blobs" / "sha256"
    for digest, size in uploads:
        upload_blob(address, REPOSITORY, blobs, digest, size)
    body = json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()
    status, _ = _request(
        "PUT",
        f"http://{address}/v2/{REPOSITORY}/manifests/{image_tag}",
        body,
        {"Content-Type": OCI_MANIFEST},
    )
    if status != 201:
        raise registry.RegistryError(
            f"the registry refused the manifest of {REPOSITORY}:{image_tag}: HTTP {status}"
        )


def push(
    sizes: list[int],
    compressions: tuple[str, ...] = COMPRESSIONS,
    *,
    seed: int = 0,
    reg: registry.Registry | None = None,
    layouts: Path = LAYOUTS,
    say: Say = print,
) -> list[PulledImage]:
    """Make each size's image and push it in each compression; what the registry holds."""
    reg = reg or registry.default()
    address = registry.start(reg, say=say)
    made = []
    for size in sizes:
        layout, uncompressed = build_layout(size, seed, layouts)
        for compression in compressions:
            image_tag = tag(size, compression)
            ref = f"{address}/{REPOSITORY}:{image_tag}"
            push_image(address, layout, compression, image_tag)
            manifest, digest = registry.manifest(REPOSITORY, image_tag, reg)
            layers = manifest.get("layers", [])
            made.append(
                PulledImage(
                    ref=ref,
                    size_bytes=size,
                    compression=compression,
                    digest=digest,
                    layers=len(layers),
                    compressed_bytes=sum(int(layer["size"]) for layer in layers),
                    uncompressed_bytes=uncompressed,
                    media_types=tuple(str(layer["mediaType"]) for layer in layers),
                )
            )
            say(f"pull images: {ref} ({len(layers)} layers, {made[-1].compressed_bytes} bytes)")
    return made
