"""Batches: folders, worker pools, any Executor, one bad file among many."""

from __future__ import annotations

import os
from pathlib import Path
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image

import kmcodec
from kmcodec import batch
from kmcodec.atomicfile import atomic_output
from kmcodec.cli import main
from kmcodec.files import encoded_name

from .conftest import palette_image


@pytest.fixture
def tree(tmp_path):
    """in/a.png, in/b.bmp, in/notes.txt, in/sub/c.png, in/sub/deeper/d.png, in/sub/bad.png."""
    root = tmp_path / "in"
    (root / "sub" / "deeper").mkdir(parents=True)
    for i, rel in enumerate(["a.png", "b.bmp", "sub/c.png", "sub/deeper/d.png"]):
        Image.fromarray(palette_image(12, 16, 20, seed=i)).save(root / rel)
    (root / "notes.txt").write_text("not an image, and not named like one")
    (root / "sub" / "bad.png").write_bytes(b"\x89PNG but broken")
    return root


def listing(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_plan_mirrors_the_tree(tree, tmp_path):
    pairs = batch.plan([tree], tmp_path / "out", encoded_name, recursive=True, accept=batch._is_image_name)
    rels = [(os.path.relpath(s, tree), os.path.relpath(d, tmp_path / "out")) for s, d in pairs]
    assert rels == [("a.png", "a.kmc"), ("b.bmp", "b.kmc"), ("sub/bad.png", "sub/bad.kmc"),
                    ("sub/c.png", "sub/c.kmc"), ("sub/deeper/d.png", "sub/deeper/d.kmc")]
    top = batch.plan([tree], None, encoded_name, recursive=False, accept=batch._is_image_name)
    assert [os.path.basename(s) for s, _ in top] == ["a.png", "b.bmp"]


@pytest.mark.parametrize("jobs", [1, 2])
def test_encode_many_one_bad_file_does_not_stop_the_rest(tree, tmp_path, jobs):
    out = tmp_path / "out"
    results = batch.encode_many([tree], out, k=8, recursive=True, jobs=jobs)
    assert [r.ok for r in results] == [True, True, False, True, True]
    bad = results[2]
    assert bad.input.endswith("bad.png") and "cannot read image" in bad.error
    assert listing(out) == ["a.kmc", "b.kmc", "sub", "sub/c.kmc", "sub/deeper", "sub/deeper/d.kmc"]
    for r in results:
        if r.ok:
            assert Path(r.output).read_bytes() == kmcodec.encode(r.input, k=8)
            assert r.bytes_out == os.path.getsize(r.output) and r.bytes_in == os.path.getsize(r.input)
    summary = batch.summarize(results, 1.0)
    assert (summary.files, summary.failed) == (5, 1)
    assert summary.bytes_out == sum(r.bytes_out for r in results)


def test_any_executor_and_decode_many(tree, tmp_path):
    with ThreadPoolExecutor(2) as pool:
        enc = batch.encode_many([tree / "a.png", tree / "sub" / "deeper"], tmp_path / "k", k=4, executor=pool)
        assert all(r.ok for r in enc)
        dec = batch.decode_many([tmp_path / "k"], tmp_path / "d", fmt="png", executor=pool)
    assert all(r.ok for r in dec) and len(dec) == 2
    for r in dec:
        assert np.array_equal(np.asarray(Image.open(r.output).convert("RGB")), kmcodec.read(r.input))


def test_existing_outputs_are_failures_not_overwrites(tree, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.kmc").write_bytes(b"keep")
    results = batch.encode_many([tree / "a.png", tree / "b.bmp"], out, k=4, jobs=1)
    assert not results[0].ok and "file exists" in results[0].error and results[1].ok
    assert (out / "a.kmc").read_bytes() == b"keep"
    results = batch.encode_many([tree / "a.png"], out, k=4, jobs=1, overwrite=True)
    assert results[0].ok and kmcodec.info(out / "a.kmc").colors == 4


def test_cli_batch(tree, tmp_path, capsys):
    out = tmp_path / "o"
    code = main(["encode", str(tree), "-r", "--out-dir", str(out), "-k", "4", "-j", "2"])
    captured = capsys.readouterr()
    assert code == 1  # bad.png failed
    errors = [line for line in captured.err.splitlines() if line.startswith("kmc: error:")]
    assert len(errors) == 1 and "bad.png" in errors[0] and captured.out == ""
    assert captured.err.splitlines()[-1].startswith("5 files: 4 done, 1 failed")
    code = main(["decode", str(out), "-r", "--out-dir", str(tmp_path / "png"), "--format", "bmp"])
    assert code == 0 and "4 files: 4 done, 0 failed" in capsys.readouterr().err
    assert sorted(p.suffix for p in (tmp_path / "png").rglob("*.*")) == [".bmp"] * 4
    assert main(["encode", str(tree / "a.png"), str(tree / "b.bmp"), "-o", "x.kmc"]) == 2


def test_interrupt_leaves_no_partial_file(tmp_path):
    target = tmp_path / "x.kmc"
    def interrupted_write():
        with atomic_output(target) as fh:
            fh.write(b"half a file")
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        interrupted_write()
    assert list(tmp_path.iterdir()) == []


def test_dask_cluster(tree, tmp_path):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        results = batch.encode_many([tree / "a.png", tree / "b.bmp"], tmp_path / "dk", k=4,
                                    executor=client.get_executor())
    assert [r.ok for r in results] == [True, True]
    assert (tmp_path / "dk" / "a.kmc").read_bytes() == kmcodec.encode(tree / "a.png", k=4)


def test_ctrl_c_stops_cleanly(tmp_path):
    """SIGINT to the whole process group, as a terminal's Ctrl-C sends it."""
    import signal
    import subprocess
    import sys
    import time

    src = tmp_path / "in"
    src.mkdir()
    big = np.random.default_rng(0).integers(0, 256, size=(600, 800, 3), dtype=np.uint8)
    for i in range(12):
        Image.fromarray(np.roll(big, i, axis=1)).save(src / f"{i:02}.png")
    before = {p.name: p.read_bytes() for p in src.iterdir()}
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "kmcodec", "encode", str(src), "--out-dir", str(out), "-k", "64", "-j", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    time.sleep(3)  # long enough to be mid-way: workers started, some files in progress
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err
    assert {p.name: p.read_bytes() for p in src.iterdir()} == before  # inputs untouched
    for path in out.rglob("*") if out.exists() else []:
        assert path.suffix == ".kmc" and not path.name.startswith(".")  # no temporary files left
        kmcodec.info(path)  # and every output there is complete


def test_a_worker_that_dies_fails_only_its_own_file(tmp_path):
    """A worker process killed under one file (a crash, the OOM killer)
    breaks the pool; every other file is still done, and only the file that
    kills its worker again, run alone, is reported failed."""
    from tests.hostile_helpers import crash_on_b

    pairs = [(str(tmp_path / f"{name}.png"), str(tmp_path / f"{name}.kmc")) for name in "abcde"]
    results = batch._run(crash_on_b, pairs, False, batch.Settings(), None, 2, False)
    assert [r.input for r in results] == [src for src, _ in pairs]
    assert [r.ok for r in results] == [True, False, True, True, True]
    assert "worker process died" in results[1].error


@pytest.mark.parametrize("jobs", [1, 2])
def test_workers_share_the_cores_between_their_engine_threads(monkeypatch, jobs):
    # Each worker's k-means loops run on cores // jobs threads: two workers
    # each taking every core would fight over them.
    from kmcodec._kmeans_jit import threads

    monkeypatch.delenv("NUMBA_NUM_THREADS", raising=False)
    pool = batch._pool(jobs, batch.Settings())
    try:
        seen = {pool.submit(threads).result() for _ in range(2)}
    finally:
        pool.shutdown()
    assert seen == {max(1, (os.cpu_count() or 1) // jobs)}
