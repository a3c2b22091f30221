"""The compiled-code cache is loaded only from a folder private to the user.

Numba's cache index files are pickles, so a cache folder another user can
write is a way to run code in kmcodec.  These tests plant a pickle that
creates a marker file when loaded, check that a private cache of our own
*does* load it (so the test can see a load), and that every folder another
user could have written is never read.
"""

from __future__ import annotations

import os
import pickle
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from kmcodec import jitcache

pytestmark = pytest.mark.skipif(not hasattr(os, "geteuid"), reason="POSIX ownership")

SCRIPT = textwrap.dedent(
    """
    import sys
    import warnings
    warnings.simplefilter("always")
    from numba import njit
    from kmcodec.jitcache import private_cache, cache_dir

    @njit
    def add_one(x):
        return x + 1

    private_cache(add_one, "add_one")
    assert add_one(1) == 2
    print(cache_dir())
    print(sum(add_one.stats.cache_hits.values()))
    print("numba.np.arraymath" in sys.modules)  # Numba's registries, loaded to compile
    """
)


class Planted:
    """Unpickling this creates the file ``marker``: proof that a pickle ran."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def run(script: Path, home: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NUMBA_", "XDG_"))}
    env["HOME"] = str(home)
    return subprocess.run([sys.executable, str(script)], env=env, capture_output=True,
                          text=True, timeout=120, cwd=script.parent)


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    """A script, and the cache files one honest run of it leaves."""
    root = tmp_path_factory.mktemp("jit")
    script = root / "job.py"
    script.write_text(SCRIPT)
    home = root / "honest"
    home.mkdir()
    first = run(script, home)
    assert first.returncode == 0, first.stderr
    folder = Path(first.stdout.split()[0])
    assert folder == home / ".cache" / f"kmcodec-numba-{os.geteuid()}"
    files = sorted(p.relative_to(folder) for p in folder.rglob("*") if p.is_file())
    assert any(p.suffix == ".nbi" for p in files), files
    # Said before compiling, once, on stderr (Python's default for a
    # logged warning when logging is not configured).
    assert first.stderr.splitlines() == ["compiling add_one (10 to 20 s, once: the result is cached)"]
    return script, folder, files


def plant(home: Path, files, marker: Path) -> Path:
    """A cache folder under ``home`` whose index files are hostile pickles."""
    folder = home / ".cache" / f"kmcodec-numba-{os.geteuid()}"
    for rel in files:
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(pickle.dumps(Planted(str(marker))) if rel.suffix == ".nbi" else b"")
    return folder


def test_an_honest_cache_is_private_and_reused(compiled):
    script, folder, _ = compiled
    mode = stat.S_IMODE(folder.stat().st_mode)
    assert mode == 0o700 and folder.stat().st_uid == os.geteuid()
    second = run(script, folder.parent.parent)
    assert second.returncode == 0, second.stderr
    assert second.stdout.split()[1] == "1"  # a cache hit: compiled code was reused
    assert second.stderr == ""  # and no notice of compiling


def test_a_cached_function_loads_without_the_compiler_registries(compiled):
    """Loading compiled code needs Numba's runtime, not its typing and lowering
    registries (0.3 to 0.5 s, SciPy among them): a cache hit leaves them out."""
    script, folder, _ = compiled
    second = run(script, folder.parent.parent)
    assert second.returncode == 0, second.stderr
    assert second.stdout.split()[1:] == ["1", "False"]


def test_control_a_planted_pickle_in_our_own_private_folder_is_loaded(compiled, tmp_path):
    """The control: without the checks' refusal, a planted index would run."""
    script, _, files = compiled
    marker = tmp_path / "ran"
    folder = plant(tmp_path, files, marker)
    for path in [folder, *folder.rglob("*")]:
        if path.is_dir():
            path.chmod(0o700)
    run(script, tmp_path)
    assert marker.exists()


@pytest.mark.parametrize("how", ["mode 0777", "mode 0770", "mode 0702", "other owner", "symlink"])
def test_a_folder_others_could_write_is_never_read(compiled, tmp_path, how):
    script, _, files = compiled
    marker = tmp_path / "ran"
    home = tmp_path / "home"
    if how == "symlink":
        elsewhere = plant(tmp_path / "elsewhere", files, marker)
        for path in [elsewhere, *elsewhere.rglob("*")]:
            if path.is_dir():
                path.chmod(0o700)
        (home / ".cache").mkdir(parents=True)
        (home / ".cache" / elsewhere.name).symlink_to(elsewhere)
    else:
        folder = plant(home, files, marker)
        if how == "other owner":
            if os.geteuid() != 0:
                pytest.skip("changing a folder's owner needs root")
            for path in [folder, *folder.rglob("*")]:
                os.chown(path, 65534, 65534)
                if path.is_dir():
                    path.chmod(0o700)
        else:
            folder.chmod(int(how.split()[1], 8))
    result = run(script, home)
    assert result.returncode == 0, result.stderr
    assert not marker.exists()
    used = Path(result.stdout.split()[0])
    assert used.name.startswith("kmcodec-numba-") and used.parent == Path(jitcache_tempdir())
    assert "no private cache folder" in result.stderr
    assert "compiling add_one (10 to 20 s, in each process: it cannot be cached)" in result.stderr
    assert not used.exists()  # the private temporary folder is removed at exit


def jitcache_tempdir() -> str:
    import tempfile

    return tempfile.gettempdir()


def test_an_unusable_home_falls_back_to_a_private_temporary_folder(compiled, tmp_path):
    script, _, _ = compiled
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    result = run(script, blocked)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[0].startswith(jitcache_tempdir())
    assert result.stderr.count("no private cache folder") == 1


def test_is_private_rules(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir(0o700)
    mine.chmod(0o700)
    assert jitcache.is_private(str(mine))
    mine.chmod(0o755)  # others may read, not write: still private for planting
    assert jitcache.is_private(str(mine))
    for mode in (0o720, 0o702, 0o777):
        mine.chmod(mode)
        assert not jitcache.is_private(str(mine))
    link = tmp_path / "link"
    mine.chmod(0o700)
    link.symlink_to(mine)
    assert not jitcache.is_private(str(link))
    (tmp_path / "f").write_text("")
    assert not jitcache.is_private(str(tmp_path / "f"))
    assert not jitcache.is_private(str(tmp_path / "missing"))


def test_the_entropy_coders_use_the_private_cache():
    from kmcodec import _entropy_jit, _mix_jit

    for module in (_entropy_jit, _mix_jit):
        for name in ("decode_stripes", "encode_stripes"):
            cache = getattr(module, name)._cache
            assert type(cache).__module__ == "kmcodec.jitcache", name
            assert Path(cache.cache_path).parent == Path(jitcache.cache_dir())


def test_the_palette_coder_uses_the_private_cache():
    from kmcodec import _palette_jit

    for function in (_palette_jit.decode_keys, _palette_jit.encode_keys):
        assert type(function._cache).__module__ == "kmcodec.jitcache", function.__name__
        assert Path(function._cache.cache_path).parent == Path(jitcache.cache_dir())


def test_the_dithering_and_weighting_use_the_private_cache():
    # Found by bench/encode.py: the cell lists were compiled in every process (+1.7 s).
    from kmcodec import _dither_jit, _importance_jit

    for function in (_dither_jit.cells, _dither_jit.floyd_steinberg, _dither_jit.floyd_steinberg3,
                     _importance_jit.add_weights):
        assert type(function._cache).__module__ == "kmcodec.jitcache", function.__name__
        assert Path(function._cache.cache_path).parent == Path(jitcache.cache_dir())


def test_a_folder_left_by_kmcodec_0_1_is_reused_and_tightened(compiled, tmp_path):
    """kmcodec 0.1 made the folder with mode 0755: only we can write it, so it
    is used (no slow recompile for every process) and tightened to 0700."""
    script, _, _ = compiled
    folder = tmp_path / ".cache" / f"kmcodec-numba-{os.geteuid()}"
    folder.mkdir(parents=True)
    folder.chmod(0o755)
    result = run(script, tmp_path)
    assert result.returncode == 0, result.stderr
    assert Path(result.stdout.split()[0]) == folder
    assert "no private cache folder" not in result.stderr
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700


SWAP_SCRIPT = textwrap.dedent(
    """
    import os, pickle, sys
    from numba import njit
    from kmcodec.jitcache import private_cache

    class Planted:
        def __reduce__(self):
            return (open, (sys.argv[1], "w"))

    @njit
    def add_one(x):
        return x + 1

    private_cache(add_one)
    add_one(1)                       # compiled and saved in the private folder
    folder = add_one._cache.cache_path
    os.chmod(folder, 0o777)          # the folder stops being private ...
    for name in os.listdir(folder):  # ... and someone plants an index
        if name.endswith(".nbi"):
            with open(os.path.join(folder, name), "wb") as fh:
                pickle.dump(Planted(), fh)
    add_one(1.5)                     # a new signature: a load is attempted
    print(add_one._cache._checked())
    """
)


def test_a_folder_that_stops_being_private_is_never_read_again(tmp_path):
    """The check is about the very folder Numba reads (fixed when the cache
    is made), not a fresh choice: once it fails, nothing is loaded."""
    script = tmp_path / "swap.py"
    script.write_text(SWAP_SCRIPT)
    marker = tmp_path / "ran"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NUMBA_", "XDG_"))}
    env["HOME"] = str(tmp_path / "home")
    result = subprocess.run([sys.executable, str(script), str(marker)], env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False"]
    assert not marker.exists()


def test_a_change_to_any_compiled_module_invalidates_every_kernels_cache(tmp_path):
    """Coder 2's kernels inline coder 1's helpers: the source stamp of its
    cached code covers every ``_*_jit.py`` of the package, not its own file
    alone, and nothing else."""
    import shutil

    from kmcodec import _mix_jit

    package = Path(_mix_jit.__file__).parent
    for name in ("_mix_jit.py", "_entropy_jit.py", "codec.py"):
        shutil.copy(package / name, tmp_path / name)
    locator = type(_mix_jit.decode_stripes._cache._impl.locator)
    stamp = lambda: locator(_mix_jit.decode_stripes.py_func, str(tmp_path / "_mix_jit.py")).get_source_stamp()  # noqa: E731
    before = stamp()
    with open(tmp_path / "codec.py", "a") as fh:
        fh.write("\n# not compiled\n")
    assert stamp() == before
    with open(tmp_path / "_entropy_jit.py", "a") as fh:
        fh.write("\n# a helper changed\n")
    changed = stamp()
    assert changed != before
    with open(tmp_path / "_mix_jit.py", "a") as fh:
        fh.write("\n# the kernel changed\n")
    assert stamp() not in (before, changed)
