"""One rule for runtime names and paths (runtimes.NAME_PATTERN), wherever a runtime is
registered; the shim scripts quote every path and flag."""

from __future__ import annotations

import os
import stat
import subprocess

import pytest

from rtlab import cli
from rtlab.collect import front
from rtlab.core import runtimes
from rtlab.core.runtimes import KNOWN, Runtime, RuntimeSpecError, parse_custom
from rtlab.host import shims
from rtlab.report import params

BAD_NAMES = ["ev\nil", "", "Runc", "-x", ".x", "a b", "a/b", "a;b", "x" * 64, "runc\x00", "é"]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_a_name_outside_the_pattern_is_refused_in_one_line(name):
    with pytest.raises(RuntimeSpecError) as caught:
        Runtime(name, "/bin/true")
    assert "\n" not in str(caught.value) and runtimes.NAME_PATTERN in str(caught.value)
    with pytest.raises(RuntimeSpecError) as caught:
        parse_custom(f"{name}=/bin/true")
    assert str(caught.value).startswith("--runtime ") and "\n" not in str(caught.value)


@pytest.mark.parametrize("name", ["runc", "runsc-kvm", "kata-runtime", "a", "x" * 63, "r1.2_b"])
def test_names_inside_the_pattern_are_accepted(name):
    assert Runtime(name, "/bin/true").name == name


def test_every_known_runtime_follows_the_rule():
    assert all(Runtime(r.name, r.binary, r.flags) for r in KNOWN.values())


@pytest.mark.parametrize("spec", ["ok=/bin/tr\nue", "ok=/bin/true:--a\x1b[2J", "ok=/x\x7f"])
def test_control_characters_in_paths_and_flags_are_refused(spec):
    with pytest.raises(RuntimeSpecError, match="control characters"):
        parse_custom(spec)


def test_notebook_01_applies_the_same_rule():
    with pytest.raises(
        params.ParameterError,
        match=r"^custom_runtimes: --runtime 'ev\\nil=/bin/"
        r"true': runtime name 'ev\\nil'",
    ):
        front.collect_options(custom_runtimes=["ev\nil=/bin/true"])


def test_setup_refuses_before_it_runs(monkeypatch, capsys):
    import rtlab.host.setup

    def must_not_run(**_):
        raise AssertionError("setup ran with a bad runtime name")

    monkeypatch.setattr(rtlab.host.setup, "setup", must_not_run)
    assert cli.main(["setup", "--runtime", "ev\nil=/bin/true"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "runtime name 'ev\\nil'" in err


def test_shim_scripts_quote_paths_and_flags(tmp_path, monkeypatch):
    """A runtime binary whose path needs quoting, with a flag holding a space: the
    ``runc`` stand-in passes exactly those arguments, and the wrapper is valid sh."""
    odd = tmp_path / "dir with 'quote' and $HOME"
    odd.mkdir()
    binary = odd / "rt"
    log = tmp_path / "argv"
    binary.write_text(f"#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done > '{log}'\n")
    binary.chmod(binary.stat().st_mode | stat.S_IXUSR)
    stock = tmp_path / "containerd-shim-runc-v2"
    stock.write_text("#!/bin/sh\nexit 0\n")
    stock.chmod(0o755)
    monkeypatch.setattr(shims, "SHIM_BIN_DIR", tmp_path / "bin")
    monkeypatch.setattr(shims, "SHIM_RUNC_DIR", tmp_path / "shim")
    monkeypatch.setattr(shims.shutil, "which", lambda name: str(stock) if "shim" in name else None)
    rt = parse_custom(f"odd={binary}:--flag 'a b' ';rm -rf x'")
    assert shims.ensure_shim(rt) is None
    wrapper, runc = shims.shim_paths(rt)
    assert subprocess.run(["sh", "-n", str(wrapper)]).returncode == 0
    comment = [line for line in wrapper.read_text().splitlines() if line.startswith("#")]
    assert len(comment) == 2 and str(binary) in wrapper.read_text().replace("'\"'\"'", "'")
    subprocess.run([str(runc), "state", "x y"], check=True, env={**os.environ})
    assert log.read_text().splitlines() == ["--flag", "a b", ";rm -rf x", "state", "x y"]
