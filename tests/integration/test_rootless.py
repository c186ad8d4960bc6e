"""Rootless mode (rootless.py, drivers/oci_rootless.py): the user, its ranges, real trials.

Each test makes its own throw-away user (``rtlab-t<pid>``), ledger and work
folder, so it never touches a set-up host's ``rtlab-rootless``.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from rtlab import ledger, rootless


@pytest.fixture
def user(tmp_path, monkeypatch):
    """A fresh rootless account in a private ledger; removed (and checked) after."""
    monkeypatch.setattr(ledger, "LEDGER", tmp_path / "host-changes.json")
    monkeypatch.setattr(rootless, "HOME_ROOT", tmp_path / "rootless")
    name = f"rtlab-t{os.getpid() % 100000}"
    assert rootless.account(name) is None, f"{name} exists before the test"
    acct = rootless.create_user(name, say=lambda line: None)
    yield acct
    if rootless.account(name) is not None:
        rootless.remove_user(name, say=lambda line: None)


def test_user_created_with_ranges_and_purged(user):
    ranges = rootless.subid_ranges(user.name)
    assert all(len(r) == 1 and r[0].endswith(f":{rootless.SUBID_COUNT}") for r in ranges.values())
    assert user.name in ledger.items(rootless.LEDGER_USERS)
    assert user.name in ledger.mapping(rootless.LEDGER_SUBIDS)
    assert user.uid != 0 and user.uid != os.getuid() and user.home.is_dir()
    # idempotent: a second set-up changes nothing
    assert rootless.create_user(user.name, say=lambda line: None) == user
    assert rootless.subid_ranges(user.name) == ranges
    # the wrapper really drops root
    out = subprocess.run([*rootless.wrapper(user), "id", "-u"], capture_output=True, text=True)
    assert out.stdout.strip() == str(user.uid)
    assert rootless.purge(say=lambda line: None) == [
        f"user {user.name} and its subordinate ranges removed"]
    assert rootless.account(user.name) is None
    assert not any(rootless.subid_ranges(user.name).values())
    assert not user.home.exists()
    assert not ledger.items(rootless.LEDGER_USERS) and not ledger.mapping(rootless.LEDGER_SUBIDS)


def test_refuses_an_account_rtlab_did_not_create(tmp_path, monkeypatch):
    monkeypatch.setattr(ledger, "LEDGER", tmp_path / "host-changes.json")
    with pytest.raises(rootless.RootlessError, match="rtlab did not create it"):
        rootless.create_user("nobody")
    assert rootless.purge(say=lambda line: None) == []
