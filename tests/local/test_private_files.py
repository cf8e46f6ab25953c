"""The local data folder holds API keys, sealed credentials and the KMS key material that opens
them: files are created 0600 and folders 0700 whatever the umask."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from infra.local.stack import make_private_dir, write_private_file, write_snapshot


@pytest.fixture
def open_umask():
    """Umask 0: anything not created with an explicit mode would be readable by everyone."""
    previous = os.umask(0)
    yield
    os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_private_file_is_0600_and_replaces_an_older_readable_one(tmp_path, open_umask):
    target = tmp_path / "local.json"
    target.write_text("old")
    target.chmod(0o644)
    write_private_file(target, '{"api_key": "iof_secret"}')
    assert _mode(target) == 0o600
    assert json.loads(target.read_text()) == {"api_key": "iof_secret"}
    assert [p.name for p in tmp_path.iterdir()] == ["local.json"]  # no temporary file left behind


def test_a_private_file_is_never_visible_with_a_wider_mode(tmp_path, open_umask, monkeypatch):
    """The temporary file is created 0600, not chmod-ed afterwards: check it at the rename."""
    seen = []
    real_replace = os.replace

    def spying_replace(src, dst):
        seen.append(_mode(Path(src)))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spying_replace)
    write_private_file(tmp_path / "kms.json", "material")
    assert seen == [0o600]


def test_a_private_dir_is_created_0700_and_an_existing_one_tightened(tmp_path, open_umask):
    fresh = tmp_path / "new" / "data"
    make_private_dir(fresh)
    assert _mode(fresh) == 0o700
    existing = tmp_path / "existing"
    existing.mkdir(mode=0o755)
    make_private_dir(existing)
    assert _mode(existing) == 0o700


def test_the_snapshot_with_the_kms_key_is_private(stack, tmp_path, open_umask):
    folder = tmp_path / "snapshot"
    write_snapshot(folder)
    assert _mode(folder) == 0o700
    files = sorted(folder.iterdir())
    assert [f.name for f in files] == ["kms.json", "objects.json", "tables.json"]
    assert {f.name: _mode(f) for f in files} == {f.name: 0o600 for f in files}
    assert "material" in json.loads((folder / "kms.json").read_text())
