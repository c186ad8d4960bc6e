"""The CRI's pure parts: config, handlers, wrappers, CNI network, pod specs."""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
from pathlib import Path

import pytest

from rtlab.collect import cri_client
from rtlab.core.runtimes import KNOWN, Runtime, RuntimeSpecError
from rtlab.host import cri

pb = cri_client.pb


@pytest.fixture
def paths(tmp_path) -> cri.CriPaths:
    return cri.CriPaths(tmp_path / "state", tmp_path / "run", tmp_path / "log")


def test_config_has_every_handler_through_the_runc_shim(paths, tmp_path):
    fake = tmp_path / "myrt"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    custom = Runtime("my-rt", str(fake), ("--debug",), "user-supplied")
    hs = {
        "runc": cri.Handler("runc", KNOWN["runc"], "/usr/sbin/runc"),
        "my-rt": cri.Handler("my-rt", custom, str(paths.bin / "my-rt")),
    }
    text = cri.config_text(hs, paths)
    assert f'address = "{paths.socket}"' in text and f'root = "{paths.root}"' in text
    assert f'sandbox_image = "{cri.PAUSE_IMAGE}"' in text
    assert '.containerd.runtimes."my-rt"]' in text and f'BinaryName = "{paths.bin}/my-rt"' in text
    assert f'Root = "{paths.runc_root}"' in text
    assert f'conf_dir = "{paths.net_d}"' in text
    paths.config.parent.mkdir(parents=True)
    paths.config.write_text(text)
    assert cri.configured_handlers(paths) == ["runc", "my-rt"]
    with pytest.raises(cri.CriError, match=r"unknown CRI runtime handler 'crun'; .*runc, my-rt"):
        cri.check_handlers(["crun"], paths)


def test_runsc_wrapper_drops_its_network_flag_and_uses_host(tmp_path):
    text = cri.wrapper_text(KNOWN["runsc"], "/usr/bin/runsc", tmp_path / "io")
    assert "--network=none" not in text
    assert 'set -- /usr/bin/runsc --network=host "$@"' in text
    assert f"io={tmp_path / 'io'}" in text
    kvm = cri.wrapper_text(KNOWN["runsc-kvm"], "/usr/bin/runsc", tmp_path / "io")
    assert "--platform=kvm --network=host" in kvm


def test_plain_runtime_needs_no_wrapper_and_flags_get_one():
    assert cri.wrapper_text(KNOWN["crun"], "/usr/bin/crun") is None
    text = cri.wrapper_text(Runtime("x", "/opt/x", ("--a b",)), "/opt/x")
    assert "exec /opt/x '--a b' \"$@\"" in text


def test_bad_handler_name_is_one_line(paths):
    # the one name rule (runtimes.py) refuses it before it can reach the CRI's config
    with pytest.raises(RuntimeSpecError, match="runtime name 'a b': use lower-case"):
        cri.handlers([Runtime("a b", "/bin/true")], paths)


def test_conflist_is_rtlabs_bridge_with_host_local_under_its_folder(paths):
    net = cri.conflist(paths)
    plugin = net["plugins"][0]
    assert net["name"] == cri.NETWORK_NAME and plugin["bridge"] == cri.BRIDGE
    assert plugin["ipMasq"] is False  # no iptables rule to leave behind
    assert plugin["ipam"]["type"] == "host-local"
    assert plugin["ipam"]["dataDir"] == str(paths.ipam)
    assert json.loads(json.dumps(net)) == net


def test_paths_move_with_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("RTLAB_CRI_STATE_DIR", str(tmp_path / "s"))
    monkeypatch.setenv("RTLAB_CRI_RUN_DIR", str(tmp_path / "r"))
    p = cri.CriPaths.default()
    assert p.socket == tmp_path / "r" / "containerd.sock" and p.log.parent == tmp_path / "s"
    monkeypatch.delenv("RTLAB_CRI_STATE_DIR")
    monkeypatch.delenv("RTLAB_CRI_RUN_DIR")
    p = cri.CriPaths.default()
    assert p.state == Path("/var/lib/rtlab/cri") and p.socket == Path(
        "/run/rtlab/cri/containerd.sock"
    )


@pytest.mark.parametrize("network,mode,hostname", [("host", pb.NODE, ""), ("cni", pb.POD, "rtlab")])
def test_pod_spec_names_labels_and_network(network, mode, hostname):
    spec = cri_client.PodSpec("20261129T000000Z-ab12", 7, "runc", network)
    sc = spec.sandbox_config()
    assert sc.metadata.name == "rtlab-20261129T000000Z-ab12-00007s"
    assert sc.labels[cri_client.LABEL] == "20261129T000000Z-ab12"
    assert sc.linux.security_context.namespace_options.network == mode
    assert sc.hostname == hostname
    cc = spec.container_config()
    assert cc.metadata.name.endswith("-00007c") and list(cc.command) == ["sleep", "3600"]


def test_unknown_network_is_refused_before_any_call():
    class NoCalls:
        def handlers(self, timeout_s):
            raise AssertionError("called")

    with pytest.raises(cri.CriError, match="unknown CRI network 'wan'"):
        cri_client.check_request("runc", "wan", NoCalls())


def test_the_schemas_networks_default_is_every_cri_network_mode():
    from rtlab.core import options

    assert options.default("networks") == list(cri.NETWORK_MODES)


STUB_RUNSC = """#!/bin/sh
# a stand-in for runsc's command line (not runsc): records its calls
echo "$*" >> "$(dirname "$0")/calls"
for a in "$@"; do last=$a; done
case " $* " in
  *" create "*) pidfile=; prev=; for a in "$@"; do [ "$prev" = --pid-file ] && pidfile=$a; prev=$a; done
                echo 4242 > "$pidfile" ;;  # runsc names the sandbox
  *" start "*) echo "the container's output" ;;
  *" wait "*) echo '{"id":"'$last'","exitStatus":3}' ;;
  *" kill "*) echo "sandbox is not running" >&2; exit 128 ;;
esac
"""


def test_runsc_wrapper_hands_the_containers_stdio_to_start_and_waits_for_it(tmp_path):
    """The wrapper's shell logic (rtlab/host/cri.py _RUNSC_WRAPPER) against a stub of runsc's
    command line; the real runsc through the CRI is tests/integration/test_cri.py's."""
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.prctl(PR_SET_CHILD_SUBREAPER, 1) == 0  # as the shim is: the keeper's reaper
    try:
        _stdio_and_wait(tmp_path)
    finally:
        libc.prctl(PR_SET_CHILD_SUBREAPER, 0)


PR_SET_CHILD_SUBREAPER = 36


def _stdio_and_wait(tmp_path) -> None:
    stub = tmp_path / "runsc"
    stub.write_text(STUB_RUNSC)
    stub.chmod(0o755)
    wrapper = tmp_path / "wrapper"
    wrapper.write_text(cri.wrapper_text(Runtime("runsc", str(stub)), str(stub), tmp_path / "io"))
    wrapper.chmod(0o755)
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    bundle.joinpath("config.json").write_text(
        '{"annotations":{"io.kubernetes.cri.container-type":"container"}}'
    )
    pidfile = tmp_path / "init.pid"
    read_end, write_end = os.pipe()  # the container's stdout, as the shim gives it at create
    glob = [
        "--root",
        str(tmp_path / "root"),
        "--log",
        str(tmp_path / "log.json"),
        "--log-format",
        "json",
    ]
    subprocess.run(
        [
            str(wrapper),
            *glob,
            "create",
            "--bundle",
            str(bundle),
            "--pid-file",
            str(pidfile),
            "cid1",
        ],
        stdout=write_end,
        check=True,
        timeout=10,
    )
    os.close(write_end)
    keeper = int(pidfile.read_text())  # no newline: the shim's strconv.Atoi reads it
    assert keeper != 4242 and os.path.exists(f"/proc/{keeper}")
    start = subprocess.run(
        [str(wrapper), *glob, "start", "cid1"], capture_output=True, text=True, timeout=10
    )  # the shim reads start's output to EOF
    assert start.returncode == 0 and start.stdout == ""
    with os.fdopen(read_end) as container_out:
        assert container_out.read() == "the container's output\n"  # EOF: keeper let go
    # the shim (a subreaper) sees the keeper exit with the container's status
    _, status = os.waitpid(keeper, 0)
    assert os.waitstatus_to_exitcode(status) == 3
    calls = (tmp_path / "calls").read_text().splitlines()
    assert calls[-1] == f"--root {tmp_path / 'root'} wait cid1"  # with the shim's root
    assert calls[0].startswith("--network=host --root ")
    assert list((tmp_path / "io").iterdir()) == []
    kill = subprocess.run(
        [str(wrapper), *glob, "kill", "--all", "cid1", "9"],
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert kill.returncode == 128 and "container not running" in kill.stderr
