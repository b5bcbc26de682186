"""dirs: every default folder in one place; an environment variable always wins, platformdirs
(the XDG folders on Linux) otherwise."""

from __future__ import annotations

import pytest

from voxprint import dirs


@pytest.fixture
def bare(monkeypatch, tmp_path):
    """No voxprint variable and no XDG folder set; HOME in tmp_path."""
    for name in (dirs.DATA_ENV, dirs.HOME_ENV, dirs.CACHE_ENV, "XDG_CACHE_HOME", "XDG_DATA_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "h"))
    return tmp_path


def test_defaults_are_the_user_folders(bare):
    assert dirs.data_home() == bare / "h" / ".cache" / "voxprint"
    assert dirs.user_home() == bare / "h" / ".local" / "share" / "voxprint"
    assert dirs.cache_dir("vad") == bare / "h" / ".cache" / "voxprint" / "vad"


def test_xdg_folders_are_followed(bare, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(bare / "xc"))
    monkeypatch.setenv("XDG_DATA_HOME", str(bare / "xd"))
    assert dirs.data_home() == bare / "xc" / "voxprint"
    assert dirs.cache_dir("features") == bare / "xc" / "voxprint" / "features"
    assert dirs.user_home() == bare / "xd" / "voxprint"


def test_environment_variables_win(bare, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(bare / "xc"))
    monkeypatch.setenv(dirs.DATA_ENV, str(bare / "data"))
    monkeypatch.setenv(dirs.HOME_ENV, "~/mine")
    monkeypatch.setenv(dirs.CACHE_ENV, str(bare / "cache"))
    assert dirs.data_home() == bare / "data"
    assert dirs.user_home() == bare / "h" / "mine"  # ~ expanded
    assert dirs.cache_dir("openset") == bare / "cache" / "openset"


def test_cache_off_turns_every_cache_off(bare, monkeypatch):
    monkeypatch.setenv(dirs.CACHE_ENV, "off")
    assert dirs.cache_dir("features") is None and dirs.cache_dir("vad") is None
