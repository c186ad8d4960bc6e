"""What the measured containers run: rtlab's offline busybox, or the user's own image/bundle.

The lifecycle container runs a long-lived command (busybox ``sleep 3600``, the
user's ``--cmd``, or the image's own default command); the one-shot ``run``
step always runs ``true`` to exit (in the user's image or bundle when given).
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from pathlib import Path

from rtlab.core.image import SLEEP_ARGS, TRUE_ARGS

# The offline busybox image as every daemon client stores it (see daemons.import_images).
DEFAULT_IMAGE = "localhost/rtlab/busybox:latest"


class WorkloadError(ValueError):
    """A --image/--cmd/--bundle value rtlab cannot use; one line saying why."""


@dataclass(frozen=True)
class Workload:
    """The container every target creates.

    Parameters
    ----------
    image
        An image already in each daemon client's store (rtlab never pulls);
        None means rtlab's busybox (``DEFAULT_IMAGE``).
    cmd
        The lifecycle container's command; empty means ``sleep 3600`` for the
        busybox image and the image's own default command for a user image.
    bundle
        An OCI bundle folder for the ``oci`` client; None means rtlab's busybox bundle.
    """

    image: str | None = None
    cmd: tuple[str, ...] = ()
    bundle: Path | None = None

    @classmethod
    def from_options(
        cls, image: str | None = None, cmd: str | None = None, bundle: Path | str | None = None
    ) -> Workload:
        """Build from CLI strings (``cmd`` is split like a shell line); check the bundle."""
        args: tuple[str, ...] = ()
        if cmd is not None:
            try:
                args = tuple(shlex.split(cmd))
            except ValueError as exc:
                raise WorkloadError(f"--cmd {cmd!r}: {exc}") from None
            if not args:
                raise WorkloadError("--cmd is empty: give the command the container runs")
        if image is not None and not image.strip():
            raise WorkloadError(
                "--image is empty: give an image reference already in the client's store"
            )
        path = None
        if bundle is not None:
            path = Path(bundle).resolve()
            config = path / "config.json"
            if not config.is_file():
                raise WorkloadError(
                    f"--bundle {bundle}: no config.json there (give an OCI bundle folder)"
                )
            try:
                json.loads(config.read_text())
            except (OSError, ValueError) as exc:
                raise WorkloadError(
                    f"--bundle {bundle}: config.json is not readable JSON ({exc})"
                ) from None
        return cls(image.strip() if image else None, args, path)

    @property
    def is_default(self) -> bool:
        return self.image is None and not self.cmd and self.bundle is None

    def image_ref(self) -> str:
        return self.image or DEFAULT_IMAGE

    def lifecycle_args(self) -> list[str]:
        """The lifecycle container's command after the image (may be empty: image default)."""
        if self.cmd:
            return list(self.cmd)
        return [] if self.image else list(SLEEP_ARGS)

    @staticmethod
    def run_args() -> list[str]:
        return list(TRUE_ARGS)

    def describe(self) -> dict:
        """For run.json."""
        return {
            "image": self.image_ref(),
            "image_is_default": self.image is None,
            "lifecycle_cmd": self.lifecycle_args() or "(the image's default command)",
            "run_cmd": self.run_args(),
            "oci_bundle": str(self.bundle) if self.bundle else "(rtlab's busybox bundle)",
        }
