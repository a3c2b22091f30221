"""Colour quantisation by k-means: kmcodec's own engine and scikit-learn's.

Both engines cluster the image's *distinct* colours, each weighted by how
many pixels have it.  The weighted objective is exactly the per-pixel
objective of the tutorials' ``KMeans(n_clusters=K).fit(pixels)``, but a
repeated colour costs nothing: a 12-megapixel photograph has a few hundred
thousand to a few million distinct colours, a graphic a few hundred.

Our engine works coarse to fine, and never on a random sample:

1. Colours are merged into cells of a 64x64x64 RGB grid (128x128x128
   where pixels are dense), each represented by the weighted mean of its
   colours (as points of the clustering space: RGB or Oklab) and their
   total weight.  For any centre c, a cell's colours cost
   ``W*|mean - c|**2`` plus a constant, so k-means on the cells optimises
   the true objective, except that a cell cannot be split between two
   clusters.
2. On the cells: greedy k-means++ seeding (weighted, as scikit-learn's), or
   a weighted median cut when K is in the thousands; Lloyd iterations; then
   a swap refinement that escapes Lloyd's local optimum.
3. On all distinct colours: up to ``_POLISH_ITER`` Lloyd steps from those
   centres, which lets the clusters split cells.  With several seedings,
   each is finished so, and the best on the full colours is kept.

Lloyd uses Hamerly's bounds (an upper bound on each colour's distance to its
centre, a lower bound on the distance to any other), so late iterations only
look at the colours near a cluster boundary, and freezes the colours whose
margin outlasts the coming moves.  The loops are compiled
(:mod:`kmcodec._kmeans_jit`) and run on all cores, cut into pieces that
depend only on the number of colours, so that sums are added in the same
order on any machine.  Nearest centres are searched outward from a guess
(the colour's cell's centre, its previous centre) through each centre's
list of neighbours.  Every random draw comes from a
``numpy.random.Generator`` seeded by ``seed``: same input, same bytes.

The finish is shared by both engines: centres are rounded to the uint8
palette, every colour is reassigned to its nearest palette entry, unused
entries are dropped and the palette is sorted, so that the file holds only
colours pixels use, in a canonical order.
"""

from __future__ import annotations

import contextlib
import heapq
import math
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from . import _signals
from .colorspace import from_space, to_space
from .errors import ParameterError
from .palette_code import canonical_values
from .quantized import Quantized

if TYPE_CHECKING:
    from .options import EncodeOptions

__all__ = ["quantize", "color_histogram", "seeds", "lloyd_steps", "nearest"]
_LUT_THRESHOLD = 1 << 18  # pixels; above this a 2**24 table beats sorting
_COARSE_SHIFT = 2  # grid cells of 4x4x4 colours
_DENSE_FACTOR = 64  # cells heavier than 1/64 of a cluster's average weight are halved
_COARSE_MIN_COLORS = 1 << 14  # below this many colours, work on them directly
_PLUSPLUS_BUDGET = 2 * 10**8  # distance evaluations k-means++ may spend
_PLAIN_PLUSPLUS_BUDGET = 4 * 10**9  # the same with refine="none", on all colours
_SWAP_PATIENCE = 6  # rejected swaps in a row that end the refinement
_SWAP_PATIENCE_LARGE = 2  # the same for K >= _LARGE_K, where rounds cost most
_LARGE_K = 128
_SWAP_ITER = 3  # Lloyd iterations to judge one swap
_SWAP_BATCH_DIVISOR = 32  # the first rounds move K/32 centres at once,
_SWAP_BATCH_MAX = 64  # but never more than this: each costs a pass over the colours
_POLISH_ITER = 20  # Lloyd iterations on the full colours after the grid
_RANK_ITER = 5  # of which each seeding takes this many before the best is chosen
_EXACT_MOVERS = 4  # centres per Lloyd step whose distances are computed exactly
_FULL_TABLE = 1024  # up to this many centres, each lists all others by distance
_NEIGHBOURS = 64  # beyond, each lists this many
_FREEZE = 8  # Lloyd freezes points whose margin exceeds this many times the last move
_lock = threading.RLock()


@contextlib.contextmanager
def _engine():
    """Hold the engine: the lock, and stop signals deferred to Python's own
    points (see :func:`kmcodec._signals.deferred`)."""
    with _lock, _signals.deferred():
        yield
_stop = threading.Event()  # asks the preload thread to stop


# --- histogram ----------------------------------------------------------------


def _keys(pixels: np.ndarray) -> np.ndarray:
    """24-bit key ``R | G<<8 | B<<16`` of each pixel, as uint32.

    Reads each pixel's 3 bytes plus the next one as a little-endian uint32
    through an overlapping strided view, then masks the extra byte: one pass
    instead of three conversions and two shifts.
    """
    px = np.ascontiguousarray(pixels, dtype=np.uint8).reshape(-1, 3)
    n = len(px)
    keys = np.empty(n, dtype=np.uint32)
    if n > 1:
        view = np.ndarray((n - 1,), dtype="<u4", buffer=px, strides=(3,))
        np.bitwise_and(view, np.uint32(0xFFFFFF), out=keys[:-1])
    if n:
        r, g, b = (int(v) for v in px[-1])
        keys[-1] = r | g << 8 | b << 16
    return keys


def _colors_of(keys: np.ndarray) -> np.ndarray:
    keys = keys.astype(np.uint32)
    return np.stack((keys & 255, (keys >> 8) & 255, keys >> 16), 1).astype(np.uint8)


def _histogram(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct keys, their counts, and what :func:`_pixel_labels` needs.

    Small images: ``np.unique``, and each pixel's rank among the distinct
    keys.  Large ones: the compiled count into 2**24 counters, which then
    hold each colour's rank (a table, not a per-pixel array).
    """
    if len(pixels) < _LUT_THRESHOLD:
        uniq, inverse, counts = np.unique(_keys(pixels), return_inverse=True, return_counts=True)
        return uniq.astype(np.uint32), counts.astype(np.int64), inverse.reshape(-1)
    with _engine():
        table = np.zeros(1 << 24, dtype=np.uint32)
        _jit().count_colors(_read_only(pixels), table, _jit().threads())
    uniq = np.flatnonzero(table).astype(np.uint32)
    counts = table[uniq].astype(np.int64)
    table[uniq] = np.arange(len(uniq), dtype=np.uint32)
    return uniq, counts, table


def _read_only(pixels: np.ndarray) -> np.ndarray:
    """A read-only view of ``pixels``: Numba compiles a kernel once for each
    argument type, and a read-only array (as Pillow's images arrive) is
    another type than a writable one; the kernels take pixels only as
    read-only views, so that one compilation serves both."""
    view = pixels.view()
    view.flags.writeable = False
    return view


def _pixel_labels(pixels: np.ndarray, ranks: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Each pixel's label, from :func:`_histogram`'s ranks and each colour's label."""
    out = np.empty(len(pixels), dtype=labels.dtype)
    if len(pixels) < _LUT_THRESHOLD:  # ranks per pixel
        out[:] = labels[ranks]
    else:
        with _engine():
            _jit().label_pixels(_read_only(pixels), ranks, labels, out)
    return out


def color_histogram(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct colours of ``pixels`` and how many pixels have each.

    Parameters
    ----------
    pixels : ndarray of shape (N, 3), uint8

    Returns
    -------
    colors : ndarray of shape (U, 3), uint8, in a fixed but unspecified order
    counts : ndarray of shape (U,), int64
    """
    uniq, counts, _ = _histogram(np.ascontiguousarray(pixels, dtype=np.uint8).reshape(-1, 3))
    return _colors_of(uniq), counts


# --- the public entry ---------------------------------------------------------


def quantize(rgb: np.ndarray, options: EncodeOptions) -> Quantized:
    """Cluster an image's pixels into at most ``options.k`` colours.

    Parameters are trusted: the codec API validates them.

    Parameters
    ----------
    rgb : ndarray of shape (H, W, 3), uint8
    options : EncodeOptions
        ``k`` (an image with ``k`` or fewer distinct colours is returned
        losslessly), ``seed``, ``n_init`` (the best of that many seedings
        is kept), ``engine``, ``max_iter`` (cap on Lloyd iterations of each
        stage), ``tol`` (relative tolerance on the squared movement of
        the centres, as in scikit-learn: scaled by the mean per-channel
        variance), ``space`` (where distances are measured:
        :mod:`kmcodec.colorspace`; every pixel then takes the entry nearest
        in that space) and ``smooth_weight`` (how much more pixels in
        smooth areas count: :mod:`kmcodec.importance`).

    Returns
    -------
    Quantized
        The palette sorted by ``R<<16 | G<<8 | B``, every entry used.
    """
    height, width, _ = rgb.shape
    pixels = np.ascontiguousarray(rgb, dtype=np.uint8).reshape(-1, 3)
    k, seed, n_init = options.k, options.seed, options.seedings
    max_iter, tol, engine, space = options.max_iter, options.tol, options.engine, options.space
    chroma = options.chroma(height, width)
    with _engine():  # Numba's default threading layer takes one caller at a time
        uniq, counts, ranks = _histogram(pixels)
        colors = _colors_of(uniq)
        iterations = 0
        if len(uniq) <= k:
            palette, labels = colors, np.arange(len(uniq))
        else:
            x = to_space(colors, space, chroma)
            w = counts.astype(np.float64)
            if options.smooth_weight > 0:
                from .importance import colour_weights

                if len(pixels) < _LUT_THRESHOLD:  # ranks per pixel, else a table by colour (_histogram)
                    def rows(y0: int, y1: int) -> np.ndarray:
                        return ranks[y0 * width : y1 * width].reshape(-1, width)
                else:
                    def rows(y0: int, y1: int) -> np.ndarray:
                        return ranks[_keys(pixels[y0 * width : y1 * width])].reshape(-1, width)
                w = colour_weights(rows, x, height, width, options.smooth_weight)
            if engine == "sklearn":
                centers, labels, iterations = _sklearn_kmeans(x, w, k, seed, n_init, max_iter, tol, options.init)
            else:
                centers, labels, iterations = _kmeans(x, w, k, seed, n_init, max_iter, tol, grid=colors,
                                                      init=options.init, refine=options.refine,
                                                      counts=counts)
            palette, inverse = np.unique(from_space(centers, space, chroma), axis=0, return_inverse=True)
            labels = _nearest(x, to_space(palette, space, chroma), inverse.reshape(-1)[labels])
        palette, labels = _canonical(palette, labels)
        diff = colors.astype(np.int64) - palette[labels]
        error = int(counts @ np.einsum("ij,ij->i", diff, diff))
        dtype = np.uint8 if len(palette) <= 256 else np.uint16
        indices = _pixel_labels(pixels, ranks, labels.astype(dtype))
    return Quantized(np.ascontiguousarray(palette), indices.reshape(height, width), iterations, error)


_CHUNK = 1 << 20


def _canonical(palette: np.ndarray, labels: np.ndarray, key=None) -> tuple[np.ndarray, np.ndarray]:
    """Drop unused entries and sort the palette by ``key`` of its entries
    (default ``R<<16 | G<<8 | B``)."""
    counts = np.zeros(len(palette), np.int64)
    for start in range(0, len(labels), _CHUNK):  # bincount's own intp copy stays small on huge images
        counts += np.bincount(labels[start : start + _CHUNK], minlength=len(palette))
    used = np.flatnonzero(counts)
    value = canonical_values(palette[used]) if key is None else key(palette[used])
    order = used[np.argsort(value, kind="stable")]
    remap = np.zeros(len(palette), dtype=np.uint8 if len(order) <= 256 else np.uint16)  # K <= 65536
    remap[order] = np.arange(len(order))
    return palette[order], remap[labels]


# --- loading the compiled engine ------------------------------------------------


def preload() -> threading.Thread | None:
    """Start loading the compiled engine in a background thread.

    Importing Numba and loading the engine's cached code takes about half a
    second, mostly in Python; reading and decoding a large PNG spends about
    as long in zlib with Python's lock released.  The ``kmc encode``
    command starts this first, so that the two overlap.  Join the thread
    before exit, or call :func:`stop_preload` to have it stop after the
    function it is loading.

    Returns None, starting nothing, when compiled code cannot be cached
    (:func:`kmcodec.jitcache.persistent`): then the engine compiles for
    tens of seconds in every run, which the overlap does not help, and a
    thread still compiling into the temporary cache as the process exits
    could leave files behind after the folder's removal.
    """
    from .jitcache import persistent

    if not persistent():
        return None
    _stop.clear()
    thread = threading.Thread(target=_warm, name="kmcodec-preload", daemon=True)
    thread.start()
    return thread


def stop_preload() -> None:
    """Have the preload thread stop after the function it is loading."""
    _stop.set()


def _warm() -> None:
    # A failure here (Numba missing, say) is the main thread's to meet and
    # report when it calls the same function.
    with contextlib.suppress(Exception):
        _load_engine()


def _load_engine() -> None:
    """Load every compiled function for the argument types the engine uses.

    Each is called once on tiny arguments, not only loaded: Numba finishes
    loading a function (LLVM calling back into Python) on its first call,
    and in the main thread a stop signal landing in such a callback left
    LLVM broken and the process crashed (a segmentation fault in 3 of 20
    tries).  The lock is held throughout: the engine waits for it on
    kmcodec's own lock, where a stop signal interrupts it cleanly.
    """
    jit = _jit()
    x = np.zeros((2, 3))
    w = np.ones(2)
    idx = np.zeros(2, dtype=np.intp)
    idx3 = np.zeros((2, 3), dtype=np.int64)
    pixels = np.zeros((2, 3), dtype=np.uint8)
    table = np.zeros(1 << 22, dtype=np.uint32)
    read = _read_only(pixels)
    with _lock:
        if _stop.is_set():
            return
        order, dist = jit.neighbours(x, 1)
        calls = [
            lambda: jit.count_colors(read[:0], table, 1),
            lambda: jit.coarsen(idx3, x, w, _COARSE_SHIFT, 1.0),
            lambda: jit.plusplus(x, w, 0.0, np.zeros((1, 1))),
            lambda: jit.assign(x, x, idx, order, dist, idx, w.copy(), w.copy()),
            lambda: jit.cluster_sums(x, w, idx, 2, idx),
            lambda: jit.renew(x, order, dist),
            lambda: jit.hamerly(x, x, w.copy(), 0.0, idx[:0], idx.copy(), w.copy(), w.copy(), order, dist, idx),
            lambda: jit.inertia(x, w, x, idx),
            lambda: jit.reseat(x, x, idx[:0], idx.copy(), w.copy(), w.copy()),
        ] + [  # indices of K <= 256 colours, and of more
            lambda dtype=dtype: jit.label_pixels(read, table, np.zeros(1, dtype), np.empty(2, dtype))
            for dtype in (np.uint8, np.uint16)
        ]
        for call in calls:
            if _stop.is_set():
                return
            call()


# --- nearest centres ----------------------------------------------------------


def _jit():
    from . import _kmeans_jit

    return _kmeans_jit


def _kdtree(centers: np.ndarray):
    # pykdtree over SciPy's cKDTree: 2 to 4 times faster queries on these
    # sizes and a tenth of the import time (measured for issue 6).
    from pykdtree.kdtree import KDTree

    return KDTree(centers)


class _Table:
    """Each centre's nearest other centres, for the outward search.

    All of them up to ``_FULL_TABLE`` centres; beyond, a k-d tree lists
    the nearest ``_NEIGHBOURS`` (a search that runs off the end of its
    list looks at every centre).  A full table is kept from one call of
    :meth:`of` to the next and re-sorted from its last order, which costs a
    tenth of sorting afresh when few centres moved far (as between Lloyd
    steps and swap rounds).
    """

    def __init__(self) -> None:
        self.centers = np.empty((0, 3))
        self.order = np.empty((0, 0), dtype=np.int64)
        self.dist = np.empty((0, 0))

    def of(self, centers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``order`` (K, m) int64 and ``dist`` (K, m) float64 for ``centers``."""
        k = len(centers)
        if np.array_equal(centers, self.centers):
            pass
        elif k > _FULL_TABLE:
            self.order, self.dist = _partial_table(centers)
        elif len(self.order) != k:
            self.order, self.dist = _jit().neighbours(centers, k - 1)
        else:
            _jit().renew(centers, self.order, self.dist)
        self.centers = centers.copy()
        return self.order, self.dist


def _partial_table(centers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    k = len(centers)
    dist, order = _kdtree(centers).query(centers, k=_NEIGHBOURS + 1)
    # Drop each centre itself (not always first: centres can coincide).
    keep = order != np.arange(k)[:, None]
    keep[keep.sum(1) > _NEIGHBOURS, -1] = False
    order = order[keep].reshape(k, _NEIGHBOURS).astype(np.intp)
    dist = dist[keep].reshape(k, _NEIGHBOURS)
    return order, np.ascontiguousarray(dist, dtype=np.float64)


def _assign(x: np.ndarray, centers: np.ndarray, guess: np.ndarray, table: _Table | None = None):
    """Nearest centre of each row of ``x`` and the distances to the nearest two.

    ``guess`` (one centre index per row) only decides where each search
    starts: the answer is exact whatever it is, and quick when it is close.
    Beyond ``_FULL_TABLE`` centres a k-d tree answers instead.  ``table``
    is renewed for ``centers``.
    """
    n, k = len(x), len(centers)
    if k > _FULL_TABLE:
        dist, idx = _kdtree(centers).query(x, k=2)
        return idx[:, 0].astype(np.intp), dist[:, 0].copy(), dist[:, 1].copy()
    labels = np.empty(n, dtype=np.intp)
    upper = np.empty(n)
    lower = np.empty(n)
    order, dist = (table or _Table()).of(centers)
    _jit().assign(x, centers, np.ascontiguousarray(guess, dtype=np.intp), order, dist, labels, upper, lower)
    return labels, upper, lower


def _nearest(x: np.ndarray, centers: np.ndarray, guess: np.ndarray | None = None) -> np.ndarray:
    """Index of the nearest centre for each row of ``x``."""
    if guess is None:
        guess = np.zeros(len(x), dtype=np.intp)
    return _assign(x, centers, guess)[0]


# --- our engine ---------------------------------------------------------------


def _coarsen(rgb: np.ndarray, x: np.ndarray, w: np.ndarray, shift: int, dense: float):
    """Merge colours into grid cells: weighted mean point and total weight.

    ``rgb`` (n, 3) integer colours place the points ``x`` (n, D) in cells.

    Cells have side ``2**shift``, except that a cell heavier than ``dense``
    is replaced by its eight half-size cells: fine where many pixels are,
    where k-means wants several centres close together (a dark sky at
    K=256 lost 2% of MSE to scikit-learn on uniform cells, and gains 0.8%
    on these).  For any centre c, a cell's colours cost ``W*|mean - c|**2``
    plus a constant, so k-means on the cells optimises the true objective,
    except that a cell cannot be split between clusters.

    Returns the cells' means and weights, and the cell of each colour.
    """
    return _jit().coarsen(np.ascontiguousarray(rgb, np.int64), x, w, shift, float(dense))


def _kmeans(x, w, k, seed, n_init, max_iter, tol, grid=None, init="kmeans++", refine="full", counts=None):
    """Centres (k, D) and the label of each row of ``x`` (n, D), and the iterations.

    ``grid``: the (n, 3) integer RGB colours of the points, for the coarse
    grid stage (:func:`_coarsen`): cells of RGB colours, each represented
    by its points' weighted mean in the clustering space (in which the
    cost identity holds as well).  None: no grid stage.  ``init`` and
    ``refine`` as in :class:`kmcodec.EncodeOptions`; ``counts`` (n,), the
    pixels of each point, which "random" draws by (default ``w``).
    """
    rng = np.random.default_rng(seed)
    total = w.sum()
    mean = (w @ x) / total
    variance = (w @ (x * x)) / total - mean * mean  # exact enough: x <= 255, sums < 2**53
    tol_abs = float(np.mean(variance)) * tol
    draws = w if counts is None else np.asarray(counts, np.float64)
    if refine == "none":  # the textbook loop: until no colour changes cluster
        return _plain(x, w, k, rng, n_init, max_iter, 0.0, init, draws)

    def random_seeds(rng):
        return x[_random_colours(draws, k, rng)]

    draw = random_seeds if init == "random" else None
    if grid is not None and len(x) >= _COARSE_MIN_COLORS:
        xc, wc, cell = _coarsen(grid, x, w, _COARSE_SHIFT, w.sum() / (_DENSE_FACTOR * k))
        if len(xc) > 4 * k:
            # The grid's ranking of local optima is not the full colours':
            # each seeding takes a few steps on them before the best is
            # chosen and finished.
            best = None
            spent = 0
            polish = min(max_iter, _POLISH_ITER)
            table = _Table()
            for _ in range(n_init if draw or _plusplus(k, len(xc)) else 1):
                centers, labels, iterations = _kmeans_on(xc, wc, k, rng, 1, max_iter, tol_abs, table, draw)
                centers, inertia, (labels, _, _), more = _lloyd(
                    x, w, centers, min(polish, _RANK_ITER), tol_abs, guess=labels[cell], table=table
                )
                spent += iterations + more
                if best is None or inertia < best[1]:
                    best = (centers, inertia, labels, more)
            assert best is not None  # n_init >= 1
            centers, _, labels, done = best
            if done < polish:
                centers, _, (labels, _, _), more = _lloyd(x, w, centers, polish - done, tol_abs, guess=labels,
                                                          table=table)
                spent += more
            return centers, labels, spent
    return _kmeans_on(x, w, k, rng, n_init, max_iter, tol_abs, draw=draw)


def _plusplus(k: int, n: int, budget: int = _PLUSPLUS_BUDGET) -> bool:
    """Whether k-means++ seeding fits the budget (else median cut)."""
    return k * n * (2 + math.log(k)) <= budget


def _plain_seeding(x, w, k, rng, init, draws):
    """One textbook seeding: the first centres, and where each point's
    search starts (None: anywhere).  ``draws``: what "random" draws by.

    k-means++ may spend more here than in the pipeline (which seeds on grid
    cells), so that the textbook run keeps k-means++ up to K in the hundreds
    on a photograph's colours; beyond, the deterministic median cut.
    """
    if init == "random":
        return x[_random_colours(draws, k, rng)], None
    if _plusplus(k, len(x), _PLAIN_PLUSPLUS_BUDGET):
        return _kmeans_plusplus(x, w, k, rng)
    return _median_cut(x, w, k)


def _plain(x, w, k, rng, n_init, max_iter, tol_abs, init, draws):
    """Plain Lloyd from each seeding (:func:`_plain_seeding`) on the points themselves; the best run."""
    restarts = n_init if init == "random" or _plusplus(k, len(x), _PLAIN_PLUSPLUS_BUDGET) else 1
    best = None
    spent = 0
    table = _Table()
    for _ in range(restarts):
        _signals.check()
        centers, guess = _plain_seeding(x, w, k, rng, init, draws)
        centers, inertia, state, iterations = _lloyd(x, w, centers, max_iter, tol_abs, guess=guess, table=table)
        spent += iterations
        if best is None or inertia < best[1]:
            best = (centers, inertia, state[0])
    assert best is not None  # n_init >= 1
    return best[0], best[2], spent


def _kmeans_on(x, w, k, rng, n_init, max_iter, tol_abs, table=None, draw=None):
    """Seed, Lloyd and swap refinement on one set of weighted points.

    ``draw(rng)``: each seeding's first centres, instead of k-means++ or the
    median cut.
    """
    table = table or _Table()
    plusplus = draw is not None or _plusplus(k, len(x))
    best = None
    for _ in range(n_init if plusplus else 1):  # median cut is deterministic
        _signals.check()
        if draw is not None:
            centers, guess = draw(rng), None
        else:
            centers, guess = _kmeans_plusplus(x, w, k, rng) if plusplus else _median_cut(x, w, k)
        centers, inertia, state, iterations = _lloyd(x, w, centers, max_iter, tol_abs, guess=guess, table=table)
        labels = state[0]
        extra = 0
        if plusplus:
            # With K in the thousands every swap round costs passes over K
            # centres for gains too small to see; median cut seeds well there.
            centers, labels, inertia, extra = _swap_refine(x, w, centers, labels, inertia, rng, tol_abs, table)
        if best is None or inertia < best[1]:
            best = (centers, inertia, labels, iterations + extra)
    assert best is not None  # n_init >= 1
    return best[0], best[2], best[3]


def _kmeans_plusplus(x, w, k, rng):
    """Greedy k-means++ (Arthur & Vassilvitskii 2007), weighted as scikit-learn's.

    Returns the centres and each point's nearest one.
    """
    trials = 2 + int(math.log(k))
    first = float(rng.uniform())
    draws = np.sort(rng.uniform(size=(k - 1, trials)), axis=1)
    centers, nearest = _jit().plusplus(x, w, first, draws)
    return centers, nearest.astype(np.intp, copy=False)


def _random_colours(counts, k, rng):
    """Indices of ``k`` of the points drawn in proportion to ``counts``, without replacement.

    As drawing K pixels at random and keeping distinct colours: each draw
    picks among the colours not yet drawn, in proportion to their counts.
    Drawn at once by Efraimidis and Spirakis' keys (Inf. Proc. Letters 97,
    2006): the K smallest of ``Exp(1) / count``, in order of their keys, are
    the K draws in order.  Needs ``k`` <= the number of points with a
    positive count.
    """
    keys = rng.standard_exponential(len(counts)) / counts
    pick = np.argpartition(keys, k - 1)[:k] if k < len(keys) else np.arange(len(keys))
    return pick[np.argsort(keys[pick], kind="stable")]


def _median_cut(x, w, k):
    """Deterministic weighted median cut: split the box of largest error.

    Used instead of k-means++ when K is so large (thousands) that K passes
    over the colours would dominate the run.  Returns the boxes' means and
    each point's box.
    """

    def box(idx):
        pts, wts = x[idx], w[idx]
        mean = (pts * wts[:, None]).sum(0) / wts.sum()
        err = float((wts * ((pts - mean) ** 2).sum(1)).sum())
        return (-err, int(idx[0]), idx, mean)

    heap = [box(np.arange(len(x)))]
    done: list = []
    while heap and len(heap) + len(done) < k:
        neg_err, first, idx, mean = heapq.heappop(heap)
        if neg_err == 0 or len(idx) < 2:
            done.append((neg_err, first, idx, mean))
            continue
        pts = x[idx]
        axis = int(np.argmax(pts.max(0) - pts.min(0)))
        order = idx[np.argsort(pts[:, axis], kind="stable")]
        cum = np.cumsum(w[order])
        cut = min(max(int(np.searchsorted(cum, cum[-1] / 2)), 1), len(order) - 1)
        heapq.heappush(heap, box(order[:cut]))
        heapq.heappush(heap, box(order[cut:]))
    boxes = done + heap
    labels = np.empty(len(x), dtype=np.intp)
    for j, item in enumerate(boxes):
        labels[item[2]] = j
    return np.array([item[3] for item in boxes], dtype=np.float64), labels


def _lloyd(x, w, centers, max_iter, tol_abs, state=None, guess=None, table=None):
    """Lloyd's algorithm with Hamerly's bounds (SIAM SDM 2010).

    ``upper[i]`` bounds the distance from colour i to its centre and
    ``lower[i]`` the distance to every other centre.  When centres move,
    upper bounds grow by their centre's move and lower bounds shrink by the
    largest move; a colour whose upper bound stays below max(lower bound,
    half the distance from its centre to the nearest other centre) cannot
    change cluster and is not looked at.  The result is exactly Lloyd's,
    with scikit-learn's stopping rule: no label changed, or the summed
    squared movement of the centres is at most ``tol_abs``.

    Parameters
    ----------
    x : ndarray (n, D), float64: D = 3 (RGB) or 4 (premultiplied RGBA)
    w : ndarray (n,), float64, integer-valued weights
    centers : ndarray (k, 3), float64
    max_iter : int
    tol_abs : float
    state : (labels, upper, lower), optional
        Valid bounds for ``centers`` (modified in place); by default they
        are computed exactly.
    guess : ndarray (n,) of int, optional
        Where each exact search starts (see :func:`_assign`); centre 0 by
        default.
    table : _Table, optional
        Renewed for the centres of each step.

    Returns
    -------
    centers, inertia, state, iterations
    """
    jit = _jit()
    n, k = len(x), len(centers)
    centers = np.ascontiguousarray(centers, dtype=np.float64).copy()
    no_movers = np.empty(0, dtype=np.intp)
    everyone = np.arange(n)
    table = table or _Table()
    if state is None:
        labels, upper, lower = _assign(x, centers, np.zeros(n, np.intp) if guess is None else guess, table)
    order, dist = table.of(centers)
    if state is not None:
        labels, upper, lower = state
        jit.hamerly(x, centers, np.zeros(k), 0.0, no_movers, labels, upper, lower, order, dist, everyone)
    # Points far inside their cluster are frozen: while the centres' summed
    # moves stay below ``budget`` none of them can change cluster, so
    # each step looks only at the ``active`` ones, and the frozen ones'
    # sums are added once.
    active, frozen, budget = everyone, everyone[:0], np.inf
    still = np.zeros((k, 1 + x.shape[1]))
    drift, drift_drop = np.zeros(k), 0.0
    sums = jit.cluster_sums(x, w, labels, k, everyone)
    iterations = 0
    for iterations in range(1, max_iter + 1):  # noqa: B007 (the count is returned)
        _signals.check()
        weight = sums[:, 0]
        new = centers.copy()
        full = weight > 0
        new[full] = sums[full, 1:] / weight[full, None]
        empty = np.flatnonzero(~full)
        if empty.size:
            # Move each empty centre onto one of the colours that currently
            # cost the most, as scikit-learn does.
            worst = np.argsort(-(w * upper * upper), kind="stable")[: empty.size]
            new[empty] = x[worst]
        move = np.sqrt(((new - centers) ** 2).sum(1))
        centers = new
        drop, movers = _drops(move)
        order, dist = table.of(centers)
        drift += move
        drift_drop += float(move.max())
        changed = jit.hamerly(x, centers, move, drop, movers, labels, upper, lower, order, dist, active)
        split = False
        if frozen.size and float(drift.max()) + drift_drop >= budget:
            changed += jit.hamerly(x, centers, drift, drift_drop, no_movers, labels, upper, lower, order,
                                   dist, frozen)
            active, frozen, still, split = everyone, everyone[:0], np.zeros_like(still), True
        if active.size == n:
            # Every bound is current: freeze the points whose margin covers
            # _FREEZE steps as large as this one.
            budget = _FREEZE * float(move.max())
            far = lower - upper > budget
            if budget > 0 and np.count_nonzero(far) > n // 2:
                frozen, active = np.flatnonzero(far), np.flatnonzero(~far)
                still = jit.cluster_sums(x, w, labels, k, frozen)
                drift[:], drift_drop, split = 0.0, 0.0, True
        if changed or split:
            sums = still + jit.cluster_sums(x, w, labels, k, active)
        if (not changed or float((move * move).sum()) <= tol_abs) and not empty.size:
            break
    if frozen.size:  # bring their bounds up to date (none can change cluster)
        jit.hamerly(x, centers, drift, drift_drop, no_movers, labels, upper, lower, order, dist, frozen)
    return centers, jit.inertia(x, w, centers, labels), (labels, upper, lower), iterations


def _drops(move: np.ndarray) -> tuple[float, np.ndarray]:
    """How far every lower bound drops, and the centres measured exactly.

    Normally every lower bound drops by the largest move.  When a few
    centres moved much more than the rest (a re-seeded one, say), their
    move would ruin every lower bound: they are measured exactly instead,
    and the bounds drop by the next largest move.
    """
    order = np.argsort(move, kind="stable")
    if len(move) <= _EXACT_MOVERS + 1 or move[order[-1]] <= 2 * move[order[-_EXACT_MOVERS - 1]]:
        return float(move[order[-1]]), np.empty(0, dtype=np.intp)
    return float(move[order[-_EXACT_MOVERS - 1]]), np.ascontiguousarray(order[-_EXACT_MOVERS:])


def _swap_refine(x, w, centers, labels, inertia, rng, tol_abs, table):
    """Escape Lloyd's local optimum by moving centres where they are needed.

    Lloyd never moves a centre far, so k-means++ leaves some regions with too
    many centres and others with too few.  Each round takes the ``m``
    centres whose removal costs least (the colours they serve have a close
    second choice) and re-seeds them inside the ``m`` clusters of largest
    error, k-means++ style; Lloyd then settles, and the move is kept only if
    the error fell (cf. Ismkhan, "I-k-means-+", Pattern Recognition 79,
    2018, which moves one centre at a time).  Moving several at once saves
    rounds when K is large; a rejected round halves ``m``, and once ``m`` is
    1, ``_SWAP_PATIENCE`` rejected rounds in a row (each trying the next
    cheapest centre) end the search; ``_SWAP_PATIENCE_LARGE`` for large K,
    where each round costs most and the gains left are smallest.

    Returns the centres, labels, inertia and Lloyd iterations spent.
    """
    k = len(centers)
    extra = 0
    failures = 0
    if k < 2:
        return centers, labels, inertia, 0
    batch = min(max(1, k // _SWAP_BATCH_DIVISOR), _SWAP_BATCH_MAX)
    exact = None
    patience = _SWAP_PATIENCE if k < _LARGE_K else _SWAP_PATIENCE_LARGE
    while failures < patience:
        _signals.check()
        if exact is None:
            labels, d1, d2 = _assign(x, centers, labels, table)
            error = np.bincount(labels, weights=w * d1 * d1, minlength=k)
            removal = np.bincount(labels, weights=w * (d2 * d2 - d1 * d1), minlength=k)
            targets = np.argsort(-error, kind="stable")
            removal[targets[:batch]] = np.inf
            victims = np.argsort(removal, kind="stable")
            exact = labels, d1, d2
        labels, d1, d2 = exact
        m = min(batch, k // 2)
        chosen = victims[failures : failures + m] if m == 1 else victims[:m]
        trial = centers.copy()
        for victim, target in zip(chosen, targets[:m]):
            members = np.flatnonzero(labels == target)
            if not members.size:
                continue
            mass = np.cumsum(w[members] * d1[members] ** 2)
            pick = members[min(int(np.searchsorted(mass, rng.uniform() * mass[-1])), len(members) - 1)]
            trial[victim] = x[pick]
        # Bounds stay exact except around the moved centres.
        upper, lower = d1.copy(), d2.copy()
        trial_labels = labels.copy()
        _jit().reseat(x, trial, np.ascontiguousarray(chosen, dtype=np.intp), trial_labels, upper, lower)
        trial, trial_inertia, state, iterations = _lloyd(
            x, w, trial, _SWAP_ITER, tol_abs, (trial_labels, upper, lower), table=table
        )
        extra += iterations
        if trial_inertia < inertia * (1 - 1e-9):
            centers, inertia, labels, exact, failures = trial, trial_inertia, state[0], None, 0
        elif batch > 1:
            batch //= 2
            exact = None  # re-rank with the smaller batch
        else:
            failures += 1
    return centers, labels, inertia, extra


# --- scikit-learn -------------------------------------------------------------


def _sklearn_kmeans(x, w, k, seed, n_init, max_iter, tol, init="kmeans++"):
    from sklearn.cluster import KMeans

    # scikit-learn's "random" draws its samples in proportion to sample_weight: the
    # pixel counts, times the smooth weighting if there is one (ours: the counts).
    model = KMeans(
        n_clusters=k, n_init=n_init, random_state=seed, max_iter=max_iter, tol=tol,
        init="k-means++" if init == "kmeans++" else "random",
    )
    model.fit(x, sample_weight=w)
    return model.cluster_centers_, model.labels_.astype(np.intp), int(model.n_iter_)


# --- watching k-means: the plain algorithm, step by step -------------------------


def seeds(colors: np.ndarray, counts: np.ndarray, k: int, seed: int = 0, init: str = "kmeans++") -> np.ndarray:
    """The initial means of a seeding of ``k`` centres on a colour histogram.

    The first seeding of ``quantize(..., init=init, refine="none")`` with
    the same ``seed`` on an image whose histogram this is (in RGB, without
    smooth weighting) starts from exactly these means.

    Parameters
    ----------
    colors : ndarray of shape (C, 3)
        Distinct colours, in :func:`color_histogram`'s order (the draws
        depend on it).
    counts : ndarray of shape (C,)
        Pixels of each colour, the weights.
    k : int
        Centres wanted; all colours when there are no more than ``k``.
    seed : int, default 0
    init : {"kmeans++", "random"}, default "kmeans++"
        As :class:`kmcodec.EncodeOptions`' ``init``: greedy k-means++ (a
        weighted median cut beyond its budget), or ``k`` distinct colours
        drawn in proportion to their counts.

    Returns
    -------
    ndarray of shape (min(k, C), 3), float64
    """
    from .options import INITS

    if init not in INITS:
        raise ParameterError(f"init is {init!r}; it must be one of {INITS}")
    x, w = np.asarray(colors, np.float64), np.asarray(counts, np.float64)
    if len(x) <= k:
        return x.copy()
    with _engine():
        return _plain_seeding(x, w, k, np.random.default_rng(seed), init, w)[0]


def lloyd_steps(colors: np.ndarray, counts: np.ndarray, centers: np.ndarray,
                max_steps: int = 300, tol: float = 0.0) -> Iterator[np.ndarray]:
    """Plain Lloyd iterations from ``centers``: yields the centres after each.

    Each step is exactly the textbook one (assign every colour to its
    nearest centre, move each centre to its colours' weighted mean), so a
    plot can show k-means converge.  Stops as the encoder's
    ``refine="none"`` run does, when no colour changes centre (or after
    ``max_steps``); with ``tol`` > 0, also once the summed squared
    movement of the centres is at most ``tol`` times the colours' mean
    per-channel variance, as the pipeline's Lloyd stages do.
    """
    x, w = np.asarray(colors, np.float64), np.asarray(counts, np.float64)
    mean = (w @ x) / w.sum()
    tol_abs = float(np.mean((w @ (x * x)) / w.sum() - mean * mean)) * tol
    current = np.asarray(centers, np.float64)
    for _ in range(max_steps):
        with _engine():
            moved = _lloyd(x, w, current, 1, 0.0)[0]
        if np.array_equal(moved, current):
            return
        step = float(((moved - current) ** 2).sum())
        current = moved
        yield current
        if step <= tol_abs:
            return


def nearest(points: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Index of the nearest of ``centers`` (M, 3) for each of ``points`` (N, 3)."""
    with _engine():
        return _nearest(np.ascontiguousarray(points, np.float64), np.ascontiguousarray(centers, np.float64))
