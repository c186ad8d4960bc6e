"""What rtlab changed on this host outside its own folders, so purge undoes exactly that.

``rtlab setup`` writes here each change a user could not tell apart from their
own afterwards: the keys it added to ``/etc/docker/daemon.json`` (and whether it
created the file), the cgroup hierarchies it mounted and where each controller was bound before. ``rtlab setup --purge``
reads it, undoes each entry and removes the ledger with rtlab's state folder.
The daemons rtlab started have their own record (their pid files, daemons.py).

Stdlib only: ``make purge`` runs this without the venv.
"""

from __future__ import annotations

import json

from rtlab.core.image import STATE_DIR

LEDGER = STATE_DIR / "host-changes.json"


def read() -> dict:
    """The recorded changes (empty when nothing is recorded or the file is unreadable)."""
    try:
        data = json.loads(LEDGER.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def replace(data: dict) -> None:
    """Make ``data`` the whole ledger (purge keeps only what it could not undo)."""
    _write(data)


def _write(data: dict) -> None:
    LEDGER.parent.mkdir(parents=True, exist_ok=True)
    tmp = LEDGER.with_name(LEDGER.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    tmp.replace(LEDGER)


def add(kind: str, item: str) -> None:
    """Record that rtlab made ``item`` of ``kind`` (a list per kind; no duplicates)."""
    data = read()
    items = data.setdefault(kind, [])
    if item not in items:
        items.append(item)
        _write(data)


def flag(name: str, value: bool = True) -> None:
    """Record a yes/no fact, e.g. that rtlab created a file."""
    data = read()
    if data.get(name) != value:
        data[name] = value
        _write(data)


def set_in(kind: str, key: str, value: str) -> None:
    """Record ``key`` → ``value`` under ``kind`` (a mapping per kind; the first value stays)."""
    data = read()
    mapping = data.get(kind)
    if not isinstance(mapping, dict):
        mapping = data[kind] = {}
    if key not in mapping:
        mapping[key] = value
        _write(data)


def mapping(kind: str) -> dict[str, str]:
    value = read().get(kind, {})
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def items(kind: str) -> list[str]:
    value = read().get(kind, [])
    return [str(v) for v in value] if isinstance(value, list) else []


def discard(kind: str, item: str) -> None:
    data = read()
    if item in data.get(kind, []):
        data[kind].remove(item)
        _write(data)
