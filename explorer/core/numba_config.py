"""Numba settings for the explorer core, defined once.

Importing this module, before any kernel is compiled, does three things (and
:func:`configure_blas` and :func:`start_thread_pool` do two more, when the kernels load). It
does not import Numba, so that the window's start-up does not pay for it:

1. Chooses a writable on-disk cache for compiled kernels (``cache=True``): ``NUMBA_CACHE_DIR``
   if the user set it, else Numba's default ``__pycache__`` beside the source when that is
   writable, else a per-user folder (``~/.cache/attention-explorer/numba`` on Linux), else a
   temporary folder, so that ``cache=True`` never fails. :data:`CACHE_DIR` says which
   (None: the in-tree default).
2. Asks the OpenMP thread pool to sleep, not spin, between parallel calls
   (``OMP_WAIT_POLICY=passive``, unless the user set it). Measured on the 2-core development
   VM: with libgomp's default policy, a parallel call after 20 ms of idle (the normal gap
   between UI events) costs about 7.6 ms just to wake the threads; with ``passive`` it costs
   about 0.05 ms, and back-to-back calls cost about 0.04 ms more each.
3. Defines :data:`FASTMATH`, the only fastmath flags the kernels use.

:func:`configure_blas` limits the BLAS library that Numba's ``np.dot`` calls (SciPy's
OpenBLAS) to one thread, because the kernel already runs one ``np.dot`` per Numba thread; two
thread pools fighting over two cores is many times slower. NumPy's own BLAS is left alone, so
callers' NumPy matrix products keep all their threads. :func:`start_thread_pool` binds
Numba's worker threads to their own CPUs (measured reasons in its docstring).
"""

from __future__ import annotations

import os
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

# libgomp reads this when Numba first launches its OpenMP pool, so set it before any parallel
# kernel runs. A value chosen by the user wins.
os.environ.setdefault("OMP_WAIT_POLICY", "passive")


def _writable(folder: Path) -> bool:
    """Return True if ``folder`` exists (or can be created) and accepts new files."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder):
            pass
    except OSError:
        return False
    return True


def _user_cache_root() -> Path:
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local"
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "attention-explorer" / "numba"


def _choose_cache_dir() -> str | None:
    """Pick the folder for Numba's cache, or None to keep Numba's default (in-tree ``__pycache__``).

    Returns the folder that was configured, so that callers can report it.
    """
    if os.environ.get("NUMBA_CACHE_DIR"):
        return os.environ["NUMBA_CACHE_DIR"]
    if _writable(Path(__file__).parent / "__pycache__"):
        return None
    for candidate in (_user_cache_root(), Path(tempfile.gettempdir()) / "attention-explorer-numba"):
        if _writable(candidate):
            return str(candidate)
    return None


CACHE_DIR = _choose_cache_dir()
if CACHE_DIR is not None and "NUMBA_CACHE_DIR" not in os.environ:
    # Before Numba's import, the environment variable is what Numba reads; after it, the
    # config attribute is read each time a cached function is defined.
    os.environ["NUMBA_CACHE_DIR"] = CACHE_DIR
if "numba" in sys.modules:  # imported before this module (Numba itself is imported lazily)
    sys.modules["numba"].config.CACHE_DIR = os.environ.get("NUMBA_CACHE_DIR", "")

#: fastmath flags for every kernel. ``reassoc`` lets sums vectorise and ``contract`` allows
#: FMA. ``nnan`` and ``ninf`` are left out on purpose: masked scores are ``-inf`` and NaN in the
#: input must come out as NaN, so the compiler must not assume either away.
FASTMATH = {"reassoc", "contract", "nsz", "arcp"}  # a set: Numba refuses a frozenset

_blas_libraries: list | None = None


def _scipy_blas(controller) -> list:
    import scipy

    scipy_root = str(Path(scipy.__file__).resolve().parent)  # also matches .../scipy.libs
    return [
        lib
        for lib in controller.lib_controllers
        if lib.user_api == "blas" and str(Path(lib.filepath).resolve()).startswith(scipy_root)
    ]


def configure_blas() -> list[dict]:
    """Load the BLAS that Numba's ``np.dot`` calls (SciPy's OpenBLAS) and pin it to one thread.

    The kernel already runs one ``np.dot`` per Numba thread. NumPy's own BLAS is not touched,
    so callers' NumPy matrix products keep all their threads. Idempotent; the first call costs
    about 0.13 s, mostly importing ``scipy.linalg``, which Numba's ``np.dot`` needs anyway.

    Returns
    -------
    list of dict
        threadpoolctl's description of each pinned library (empty if none was found).
    """
    global _blas_libraries
    if _blas_libraries is None:
        import scipy.linalg.cython_blas  # noqa: F401  (loads the library Numba will call)
        from threadpoolctl import ThreadpoolController

        libraries = _scipy_blas(ThreadpoolController())
        for lib in libraries:
            lib.set_num_threads(1)
        _blas_libraries = libraries
    return [lib.info() for lib in _blas_libraries]


_OMP_PLACEMENT_VARS = ("OMP_PROC_BIND", "OMP_PLACES", "GOMP_CPU_AFFINITY")
_caller_cpu: int | None = None  # the CPU libgomp left to the calling thread, once bound


def start_thread_pool() -> None:
    """Start Numba's thread pool with each worker thread bound to its own CPU.

    Measured on the 2-core development VM: with unbound threads, parallel calls that follow any
    pause (20 ms of idle, or another library's work) often ran at serial speed, because Linux
    woke the worker on the caller's core (h=12 T=512: 8 ms instead of 4.5 ms). OpenMP binds
    threads when ``OMP_PROC_BIND`` is set, but libgomp then also binds the calling thread,
    and every thread it later creates, to one core. So the variable is set only while the pool
    starts, the caller's CPU set is restored straight after, and :func:`caller_on_own_cpu`
    keeps the caller off the workers' CPUs only while a parallel kernel runs.

    Does nothing if the pool is already running, off Linux, or if the user set any of
    ``OMP_PROC_BIND``, ``OMP_PLACES`` or ``GOMP_CPU_AFFINITY`` (their choice wins).
    """
    global _caller_cpu
    import numba
    from numba.np.ufunc import parallel

    if getattr(parallel, "_is_initialized", False):
        return
    if not hasattr(os, "sched_getaffinity") or any(v in os.environ for v in _OMP_PLACEMENT_VARS):
        parallel._launch_threads()
        return
    cpus = os.sched_getaffinity(0)
    os.environ["OMP_PROC_BIND"] = "true"
    try:
        parallel._launch_threads()
    finally:
        del os.environ["OMP_PROC_BIND"]
        os.sched_setaffinity(0, cpus)
    if numba.threading_layer() == "omp" and len(cpus) > 1:
        _caller_cpu = min(cpus)  # libgomp's place 0; workers take the following places


@contextmanager
def caller_on_own_cpu():
    """While a parallel kernel runs, keep the calling thread on the CPU no worker is bound to.

    Two system calls (a few microseconds); a no-op unless :func:`start_thread_pool` bound the
    workers. The caller's own CPU set is restored afterwards.
    """
    if _caller_cpu is None:
        yield
        return
    saved = os.sched_getaffinity(0)
    if _caller_cpu not in saved:
        yield
        return
    os.sched_setaffinity(0, {_caller_cpu})
    try:
        yield
    finally:
        os.sched_setaffinity(0, saved)


def thread_count() -> int:
    """Number of threads Numba's parallel kernels use.

    Asks Numba only once its thread pool runs (asking starts the pool, which
    :func:`start_thread_pool` must do). Before that, the number the pool will start with:
    ``NUMBA_NUM_THREADS``, else the CPUs this process may run on, as Numba counts them.
    Numba is not imported for it: that would cost about 0.25 s of the window's start-up.
    """
    numba = sys.modules.get("numba")
    if numba is not None:
        from numba.np.ufunc import parallel

        if getattr(parallel, "_is_initialized", False):
            return numba.get_num_threads()
        return numba.config.NUMBA_NUM_THREADS
    try:
        return max(1, int(os.environ["NUMBA_NUM_THREADS"]))
    except (KeyError, ValueError):
        pass
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)
