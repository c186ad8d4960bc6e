"""A runtime's Debian package and docker registration come from its one KNOWN entry."""

from __future__ import annotations

from rtlab.core import runtimes
from rtlab.core.runtimes import Runtime
from rtlab.host import daemons, host


def test_a_new_known_entry_gives_its_package_and_docker_registration(monkeypatch):
    known = {
        **runtimes.KNOWN,
        "made-up": Runtime("made-up", "made-up-rt", package="made-up-pkg", docker=True),
    }
    monkeypatch.setattr(runtimes, "KNOWN", known)
    assert runtimes.packages()["made-up-rt"] == "made-up-pkg"
    assert "made-up" in runtimes.docker_registered()


def test_setup_and_dockerd_read_the_known_entries():
    # set-up's packages and dockerd's registered runtimes are exactly what KNOWN says
    assert {
        c: p for c, p in host.DEBIAN_PACKAGES.items() if c in runtimes.packages()
    } == runtimes.packages()
    assert set(runtimes.packages().values()) <= host.setup_packages()
    assert daemons.DOCKER_RUNTIMES == runtimes.docker_registered()
    assert "runc" not in daemons.DOCKER_RUNTIMES  # docker's own
    assert {"crun", "runsc"} <= set(daemons.DOCKER_RUNTIMES)


def test_state_roots_and_rootless_support_come_from_the_entries_too():
    """issue 32: no module lists runtimes by name outside their own records."""
    import inspect

    from rtlab.host import cleanup, rootless

    assert {str(p): f for p, f in cleanup.OCI_STATE_ROOTS.items()} == {
        r.state_root[0]: r.state_root[1] for r in runtimes.KNOWN.values() if r.state_root
    }
    assert rootless.UNSUPPORTED == {
        r.name: r.no_rootless for r in runtimes.KNOWN.values() if r.no_rootless
    }
    assert "gofer" in rootless.UNSUPPORTED["runsc"] and "runc" not in rootless.UNSUPPORTED
    for module in (cleanup, rootless):
        source = inspect.getsource(module)
        assert '"/run/runc"' not in source and '"runsc-kvm"' not in source, module
