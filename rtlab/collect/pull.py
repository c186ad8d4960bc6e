"""Experiment ``pull`` (issue 33): cold starts through rtlab's registry, per client.

Before the first trial the run's images are made offline and pushed to rtlab's
registry (host/pull_images.py, host/registry.py); run.json's ``pull`` records the
registry's address and every image (reference, digest, layers, compressed and
uncompressed bytes). Each trial then runs the experiment's chain on its unit's
image (the unit's ``image_size_bytes`` and ``compression``):

- **before it, untimed, by the unit's cache** (``cache`` column): ``cold`` — every
  image of rtlab's pull repository is removed from the client's store (ctr: with
  ``--sync``, so containerd's garbage collection has removed their content), then,
  just before the pull, the page cache is dropped (``caches_dropped``); ``warm`` —
  the image is pulled, untimed, when the store does not hold it. When that fails,
  every step of the trial keeps its row with the error (never dropped or retried).
- **pull** (timed): the client's own pull over plain HTTP from loopback (docker:
  127.0.0.0/8 is an insecure registry by default; ctr ``--plain-http``; podman
  ``--tls-verify=false``): fetch and unpack, as the client does them in one
  command. ``pull_lo_bytes``: bytes the loopback interface received during the
  pull (/proc/net/dev; requests, responses and TCP/IP headers, and anything else
  on loopback in that window) — none of these clients says what it fetched.
- **create**, **start** (timed) of the image's ``sleep 3600``; then kill and
  delete, untimed. ``to_running`` is not a column: the total (pull + create +
  start) is derived in analysis from experiments.py.

At the end of the run, Ctrl-C and timeouts included, every image of the pull
repository is removed from each store the run touched, and what a pull killed
midway left there since the run began (the client's ``pull_leftovers``: ctr's
leases, which hold the fetched blobs and the layer being written; podman's
image-copy folders in /var/tmp) (``finish``); the collector removes the run's
containers as for every experiment.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from rtlab.collect.scheduler import Rows, UnitState
from rtlab.collect.trial import TrialRunner
from rtlab.core import conditions, options
from rtlab.core.experiments import Step
from rtlab.core.measure import Measurement
from rtlab.core.pull import EXPERIMENT  # noqa: F401 (the experiment's name, for importers)
from rtlab.host import cri, pull_images, registry

EXPERIMENTS = ("pull", "cri-pull")  # what PullRunner runs (the CRI's through its own chain)
NET_DEV = Path("/proc/net/dev")
LOOPBACK = "lo"
PREPARE_TIMEOUT_S = 600.0  # an untimed pull or removal before a trial


def lo_rx_bytes(path: Path = NET_DEV) -> int | None:
    """Bytes the loopback interface has received (None: not readable)."""
    try:
        for line in path.read_text().splitlines():
            name, sep, fields = line.partition(":")
            if sep and name.strip() == LOOPBACK:
                return int(fields.split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return None


class PullRunner(TrialRunner):
    """The pull experiment's trial: the unit's image, its cache state, then the chain."""

    def __init__(
        self,
        *args,
        sizes: list[int] | None = None,
        compressions: list[str] | None = None,
        seed: int = 0,
        push: Callable[..., list[pull_images.PulledImage]] = pull_images.push,
        lo_bytes: Callable[[], int | None] = lo_rx_bytes,
        drop_page_cache: Callable[[], object] = conditions.drop_caches,
        shared: dict | None = None,
        trust: Callable[[str], object] = cri.trust_registry,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.sizes = list(sizes if sizes is not None else options.default("image_sizes"))
        self.compressions = list(compressions or options.default("compressions"))
        self.seed = seed
        self.push = push
        self.trust = trust  # cri-pull: rtlab's CRI containerd may pull from the registry
        # the pushed images, shared by the run's pull runners (pull and the CRI's cri-pull)
        self.shared = shared if shared is not None else {}
        self.lo_bytes, self.drop_page_cache = lo_bytes, drop_page_cache
        self.images: dict[tuple[int, str], pull_images.PulledImage] = {}
        self.touched: dict[str, Any] = {}  # store → a target of it (finish cleans them)
        self.leftovers_before: dict[str, set[str]] = {}  # store → its pull leftovers before
        self._lo_before: int | None = None
        self._lo_delta: int | None = None

    # -- before the first round, and after the last -----------------------------------
    def prepare(self) -> dict:
        """Make and push the images; run.json's ``pull`` record."""
        if "made" not in self.shared:  # once a run, whichever runner comes first
            self.shared["made"] = self.push(
                self.sizes, tuple(self.compressions), seed=self.seed, say=self.say
            )
        made = self.shared["made"]
        self.images = {(i.size_bytes, i.compression): i for i in made}
        reg = registry.default()
        if made and self.experiment.name == "cri-pull":  # its hosts folder, read at each pull
            self.trust(made[0].ref.split("/", 1)[0])
        return {
            "pull": {
                "registry": {
                    "address": made[0].ref.split("/", 1)[0] if made else None,
                    "binary": registry.BINARY,
                    "config": str(reg.config),
                },
                "images": [i.record() for i in made],
                "seed": self.seed,
                "bytes": "pull_lo_bytes: bytes received on the loopback interface during the "
                "pull (/proc/net/dev), both directions' packets with their headers",
            }
        }

    def refs(self) -> list[str]:
        return [i.ref for i in self.images.values()]

    def finish(self) -> list[str]:
        """Remove every pull image from each store the run touched; errors that mattered."""
        errors = []
        for store, target in self.touched.items():
            errors += self._remove_images(target)
            new = target.pull_leftovers() - self.leftovers_before.get(store, set())
            errors += target.remove_pull_leftovers(new)
        return errors

    # -- one trial -----------------------------------------------------------------------
    def run(self, state: UnitState, rnd: int, warmup: bool) -> Rows:
        cond = state.unit.condition
        target = state.target
        image = self.images.get((int(cond["image_size_bytes"]), str(cond["compression"])))
        self._lo_before = self._lo_delta = None
        why = None
        if image is None:
            why = "no such image in rtlab's registry (its push failed)"
        else:
            # the unit's image for this trial's commands (units share the target; trials
            # run one at a time)
            target.use_image(image.ref)
            store = getattr(target, "image_store", None) or target.client
            if store not in self.touched:  # what an interrupted pull leaves, before any
                self.touched[store] = target
                self.leftovers_before[store] = target.pull_leftovers()
            errors = (
                self._remove_images(target)
                if cond.get("cache") == "cold"
                else self._ensure_image(target, image.ref)
            )
            why = "; ".join(errors) or None
        if why:
            return [
                self.row(
                    state, rnd, warmup, name, "", error=f"not run: {cond.get('cache')} cache: {why}"
                )
                for name in self.steps
            ]
        return super().run(state, rnd, warmup)

    def before_step(self, state: UnitState, step: Step) -> dict:
        dropped = False
        if step.name == "pull" and state.unit.condition.get("cache") == "cold":
            self.drop_page_cache()
            dropped = True
        extra = super().before_step(state, step)
        if dropped:
            extra["caches_dropped"] = True
        if step.name == "pull":
            self._lo_before = self.lo_bytes()
        return extra

    def time_step(self, target, step: Step, cids, before=None) -> list[Measurement]:
        ms = super().time_step(target, step, cids, before)
        if step.name == "pull":
            after = self.lo_bytes()
            if after is not None and self._lo_before is not None:
                self._lo_delta = after - self._lo_before
        return ms

    def row(self, state, rnd, warmup, step, cid, m=None, error="", instance=0) -> dict:
        out = super().row(state, rnd, warmup, step, cid, m, error, instance)
        out["pull_lo_bytes"] = self._lo_delta if step == "pull" and m is not None else None
        return out

    # -- the store ----------------------------------------------------------------------
    def _remove_images(self, target) -> list[str]:
        """Remove every pull image from ``target``'s store; the errors (one line each)."""
        errors = []
        for ref in self.refs():
            if target.has_image(ref):
                why = target.remove_image(ref, PREPARE_TIMEOUT_S)
                if why:
                    errors.append(why)
        return errors

    def _ensure_image(self, target, ref: str) -> list[str]:
        if target.has_image(ref):
            return []
        why = target.pull_untimed(ref, PREPARE_TIMEOUT_S)
        return [f"the untimed pull before a warm trial failed: {why}"] if why else []
