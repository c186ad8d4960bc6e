"""Cold starts through a real registry (issue 33): the ``pull`` experiment's own options.

The experiment is one entry in experiments.py: one chain per trial, ``pull`` (the
client fetches and unpacks the image from rtlab's registry, host/registry.py),
``create``, ``start`` (timed), then ``kill`` and ``delete`` (untimed teardown);
its total, ``to_running`` = pull + create + start, is "from nothing to running".

Three conditions make its units (one unit per target and value, interleaved within
rounds; core/conditions.py's CONDITIONS, columns of trials.csv):

- ``image_size_bytes`` (``--image-sizes``): the busybox image plus one layer of
  that many incompressible bytes (0: busybox alone; host/pull_images.py);
- ``compression`` (``--compressions``): how the registry holds the layers, gzip or zstd;
- ``cache`` (``--caches``): ``cold`` — before the trial every image of rtlab's
  pull repository is removed from the client's store and the page cache is
  dropped — or ``warm``: the image is in the store (pulled, untimed, when it was
  not), so the pull only checks it.

This module is stdlib only (the measurement half).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from rtlab.core import options

EXPERIMENT = "pull"
CACHES = ("cold", "warm")
COMPRESSIONS = ("gzip", "zstd")
DEFAULT_SIZES = (0, 50_000_000, 200_000_000)
MAX_SIZE = 4_000_000_000  # a layer this host's disk and the report's time allow
_UNITS = {
    "": 1,
    "B": 1,
    "KB": 10**3,
    "MB": 10**6,
    "GB": 10**9,
    "KIB": 2**10,
    "MIB": 2**20,
    "GIB": 2**30,
}
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*")


def parse_size(text: str, flag: str = "--image-sizes") -> int:
    """``0``, ``50MB``, ``1.5GB``, ``64MiB`` or a number of bytes → bytes."""
    m = _SIZE.fullmatch(str(text))
    unit = m.group(2).upper() if m else ""
    if m is None or unit not in _UNITS:
        raise options.OptionError(
            f"{flag}: {text!r} is not a size; give bytes with a unit (B, KB, MB, GB, KiB, MiB, "
            "GiB), e.g. 0,50MB,200MB"
        )
    value = int(float(m.group(1)) * _UNITS[unit])
    if value > MAX_SIZE:
        raise options.OptionError(f"{flag}: {text!r} is above {MAX_SIZE // 10**9} GB")
    return value


def size_label(size_bytes: int) -> str:
    """50000000 → ``50MB`` (decimal units, as the option takes them)."""
    for unit in ("GB", "MB", "KB"):
        if size_bytes and size_bytes % _UNITS[unit] == 0:
            return f"{size_bytes // _UNITS[unit]}{unit}"
    return f"{size_bytes}B" if size_bytes else "0"


@dataclass(frozen=True)
class Sizes(options.Kind):
    """Distinct image sizes, comma-separated (``0,50MB,200MB``; a list of bytes in a notebook)."""

    def from_text(self, text: str, flag: str) -> list[int]:
        parts = [p for p in str(text).split(",") if p.strip()]
        if not parts:
            raise options.OptionError(f"{flag}: {text!r}: give sizes, e.g. 0,50MB,200MB")
        return self._checked([parse_size(p, flag) for p in parts], flag)

    def _checked(self, values: list[int], name: str) -> list[int]:
        if len(set(values)) != len(values):
            raise options.OptionError(f"{name}: a size is given twice; give each once")
        return sorted(values)

    def check(self, value: Any, name: str) -> list[int]:
        if isinstance(value, str):
            return self.from_text(value, name)
        if isinstance(value, (list, tuple)) and value:
            return self._checked(
                [
                    v if isinstance(v, int) and not isinstance(v, bool) else parse_size(v, name)
                    for v in value
                ],
                name,
            )
        raise options.OptionError(f"{name} = {value!r}: give sizes, e.g. [0, '50MB', '200MB']")

    def to_json(self, value: Any) -> Any:
        return list(value) if value is not None else None

    def to_notebook(self, value: Any) -> Any:
        return ",".join(size_label(v) for v in value) if value else ""


IMAGE_SIZES = options.register(
    options.Option(
        "image_sizes",
        Sizes(),
        list(DEFAULT_SIZES),
        "experiment pull: the images' sizes beyond busybox, e.g. 0,50MB,200MB: one layer of that "
        "many incompressible bytes each, one unit per size (recorded as image_size_bytes)",
        options._COLLECTING,
        metavar="SIZES",
        record="image_sizes",
        resume="keep",
        absent=[0],
        experiments=(EXPERIMENT,),
    )
)
COMPRESSIONS_OPTION = options.register(
    options.Option(
        "compressions",
        options.OneOf(example="gzip,zstd", accepted=COMPRESSIONS),
        list(COMPRESSIONS),
        "experiment pull: how the registry holds the layers, gzip and/or zstd, one unit each "
        "(recorded as compression)",
        options._COLLECTING,
        metavar="LIST",
        record="compressions",
        resume="keep",
        absent=["gzip"],
        experiments=(EXPERIMENT,),
    )
)
CACHES_OPTION = options.register(
    options.Option(
        "caches",
        options.OneOf(example="cold,warm", accepted=CACHES),
        list(CACHES),
        "experiment pull: cold (the image removed from the client's store and the page cache "
        "dropped before the trial) and/or warm (the image in the store), one unit each "
        "(recorded as cache)",
        options._COLLECTING,
        metavar="LIST",
        record="caches",
        resume="keep",
        absent=["cold"],
        experiments=(EXPERIMENT,),
    )
)
