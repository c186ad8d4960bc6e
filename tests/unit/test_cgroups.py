"""Where a controller is bound, read from /proc/cgroups and the mounts (no root needed)."""

from __future__ import annotations

from rtlab.host import cgroups

PROC_CGROUPS = """#subsys_name\thierarchy\tnum_cgroups\tenabled
cpu\t1\t5\t1
hugetlb\t10\t5\t1
net_cls\t0\t4\t1
pids\t8\t5\t1
rdma\t0\t1\t0
"""
MOUNTS = """tmpfs /sys/fs/cgroup tmpfs rw,relatime,mode=755 0 0
cgroup /sys/fs/cgroup/cpu cgroup rw,relatime,cpu 0 0
cgroup /sys/fs/cgroup/pids cgroup rw,relatime,pids 0 0
cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0
"""


def test_a_bound_controller_mounted_nowhere_is_hidden(tmp_path, monkeypatch):
    (tmp_path / "cgroups").write_text(PROC_CGROUPS)
    (tmp_path / "mounts").write_text(MOUNTS)
    monkeypatch.setattr(cgroups, "PROC_CGROUPS", tmp_path / "cgroups")
    monkeypatch.setattr(cgroups, "PROC_MOUNTS", tmp_path / "mounts")
    assert cgroups.bindings() == {
        "cpu": "v1 at /sys/fs/cgroup/cpu",
        "hugetlb": cgroups.HIDDEN,
        "net_cls": cgroups.V2,
        "pids": "v1 at /sys/fs/cgroup/pids",
    }
    assert cgroups.hidden() == {10: ["hugetlb"]}
    # mounted again: no longer hidden, and named by its mount point
    (tmp_path / "mounts").write_text(
        MOUNTS + "cgroup /sys/fs/cgroup/hugetlb cgroup rw,hugetlb 0 0\n"
    )
    assert cgroups.bindings()["hugetlb"] == "v1 at /sys/fs/cgroup/hugetlb"
    assert cgroups.hidden() == {}


def test_children_come_deepest_first(tmp_path):
    (tmp_path / "a" / "b" / "c").mkdir(parents=True)
    (tmp_path / "d").mkdir()
    kids = cgroups.children(tmp_path)
    assert (
        kids.index(tmp_path / "a" / "b" / "c")
        < kids.index(tmp_path / "a" / "b")
        < kids.index(tmp_path / "a")
    )
    assert set(kids) == {
        tmp_path / "a",
        tmp_path / "a" / "b",
        tmp_path / "a" / "b" / "c",
        tmp_path / "d",
    }
