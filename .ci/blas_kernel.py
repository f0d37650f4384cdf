"""The OpenBLAS kernel this process runs, and a second one this CPU can run too.

OpenBLAS picks its kernel from the CPU (Haswell, SkylakeX, ...) unless OPENBLAS_CORETYPE
names one, and the last bits of matmul and LAPACK results differ between kernels. CI runs
the core and io tests once more under a second kernel so that no test can depend on them.

    python .ci/blas_kernel.py active   # e.g. "SkylakeX" (numpy's and scipy's OpenBLAS)
    python .ci/blas_kernel.py second   # e.g. "Haswell"; empty when there is none to run

``active`` prints the kernels of every loaded BLAS joined by ","; ``second`` prints a kernel
that differs from the active one and that this CPU can execute.
"""

from __future__ import annotations

import platform
import sys
from pathlib import Path

# OpenBLAS core type -> CPU flags its kernels need, in order of preference (x86-64).
X86_KERNELS = {
    "Haswell": {"avx", "avx2", "fma"},
    "SkylakeX": {"avx", "avx2", "fma", "avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"},
    "Sandybridge": {"avx"},
    "Nehalem": {"sse4_2"},
}
ARM_KERNELS = {"ARMV8": set()}  # the generic kernel runs on every 64-bit ARM CPU
# kernels that share most of their code with another: running that one adds little
FAMILY = {"zen": "haswell", "cooperlake": "skylakex", "sapphirerapids": "skylakex"}


def active() -> list[str]:
    """Kernel names of the BLAS libraries NumPy and SciPy load (numba's dot uses SciPy's)."""
    import numpy  # noqa: F401 - loads NumPy's OpenBLAS
    import scipy.linalg  # noqa: F401 - loads SciPy's OpenBLAS
    from threadpoolctl import threadpool_info

    names = {i.get("architecture") or "?" for i in threadpool_info() if i["user_api"] == "blas"}
    return sorted(names)


def cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            return set(line.split(":", 1)[1].split())
    return set()


def second(current: list[str], flags: set[str] | None = None, machine: str | None = None) -> str:
    """A kernel not in ``current`` (nor of its family) that a CPU with ``flags`` runs, or ""."""
    machine = (machine or platform.machine()).lower()
    if machine in ("x86_64", "amd64"):
        kernels = X86_KERNELS
    elif machine in ("aarch64", "arm64"):
        kernels = ARM_KERNELS
    else:
        return ""
    flags = cpu_flags() if flags is None else flags
    taken = {name.lower() for name in current}
    taken |= {FAMILY[name] for name in taken if name in FAMILY}
    for name, need in kernels.items():
        if name.lower() not in taken and need <= flags:
            return name
    return ""


def main(argv: list[str]) -> int:
    if argv == ["active"]:
        print(",".join(active()))
    elif argv == ["second"]:
        print(second(active()))
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
