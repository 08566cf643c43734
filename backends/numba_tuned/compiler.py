"""What numba and LLVM are told: compiler flags, 512-bit vectors, the on-disk cache, and the LLVM
intrinsics the kernels use (prefetch, atomic loads and stores, PAUSE, bit casts).

Nothing here computes anything of the network; kernels.py and threads.py build on it.
"""

from __future__ import annotations

import functools
import hashlib
import os
from typing import NamedTuple

try:
    import numba
    from llvmlite import binding as llvm
    from llvmlite import ir
    from numba import njit, types
    from numba.core import cgutils
    from numba.extending import intrinsic, overload
except ImportError as exc:  # numba missing: this backend is unavailable, the harness still runs
    numba = llvm = ir = types = cgutils = None
    MISSING = f"numba is not installed ({exc}); pip install numba"

    def njit(*args, **kwargs):
        return lambda f: f

    intrinsic = overload = njit
else:
    MISSING = None

# error_model="numpy": a float division by zero gives inf, as in numpy, instead of raising, so no zero
# test sits in the loops (such a test keeps LLVM from vectorizing them).
# FAST, for the blocked products only: `reassoc` lets LLVM split a dot product across vector lanes
# (the order of summation then differs from a scalar loop's, by rounding only) and `contract` fuses
# multiply-adds. No `nnan`/`ninf` anywhere: sigmoid relies on e^-z overflowing to inf.
JIT = dict(cache=True, error_model="numpy")
FAST = dict(JIT, fastmath={"reassoc", "contract", "nsz"})

PAGE, LINE = 4096, 64  # bytes
PREFETCH_LOCALITY = 2  # llvm.prefetch: 2 = into L2; the copy into a0 then brings each line to L1

_X86 = numba is not None and llvm.get_process_triple().startswith(("x86_64", "i386", "i686"))


def _prefer_512_bit_vectors() -> None:
    """Let LLVM use 512-bit vectors where the CPU has AVX-512, for every numba kernel of this process.

    LLVM's tuning for Intel server cores since Skylake-SP prefers 256-bit vectors even where AVX-512
    exists (wider ones once cost clock speed); these FMA-bound loops run faster with the wider ones.
    This is numba's documented NUMBA_CPU_FEATURES setting; a value the user set is left alone. It takes
    effect only if numba has compiled nothing yet in this process, and it is part of the cache's key.
    """
    if numba is None or numba.config.CPU_FEATURES is not None:
        return
    try:
        features = llvm.get_host_cpu_features()
    except RuntimeError:  # LLVM cannot read this CPU's features: leave numba's defaults
        return
    if features.get("avx512f"):
        numba.config.CPU_FEATURES = features.flatten() + ",-prefer-256-bit"


_prefer_512_bit_vectors()


# ---------------------------------------------------------------- the CPU the kernels are compiled for
class Target(NamedTuple):
    """What the kernels are compiled for, as numba tells LLVM: its CPU name and features (the host's,
    or NUMBA_CPU_NAME / NUMBA_CPU_FEATURES), and what the blocking follows from them."""

    cpu: str
    features: str  # LLVM's "+avx2,-avx512f,..." (empty: the CPU name's defaults)
    kind: str  # "avx512", "avx2" (with FMA) or "generic"
    lanes: int  # float32 values in one vector register
    registers: int  # vector registers, which bound the partial sums a blocked loop can keep


# AVX-512 is named in the features numba passes, or implied by a CPU name given without features.
_AVX512_CPUS = ("avx512", "cascadelake", "cooperlake", "icelake", "tigerlake", "sapphirerapids", "rocketlake")
_AVX512_CPUS += ("graniterapids", "emeraldrapids", "znver4", "znver5", "cannonlake", "knl", "knm")
_AVX2_CPUS = ("haswell", "broadwell", "skylake", "alderlake", "raptorlake", "meteorlake", "znver1", "znver2")
_AVX2_CPUS += ("znver3", "bdver4", "x86-64-v3", "arrowlake", "lunarlake", "gracemont")


def target_of(cpu: str, features: str, triple: str) -> Target:
    """The kernels' target from numba's CPU name, feature string and LLVM triple. AVX-512: 16 float32
    lanes in 32 registers; AVX2 with FMA: 8 lanes in 16; AArch64 (NEON): 4 lanes in 32; anything
    else: 4 lanes in 16 (SSE2, or a CPU this does not know), a blocking correct on any CPU."""
    flags = {f[1:]: f[0] == "+" for f in features.split(",") if f[:1] in "+-" and len(f) > 1}
    name = cpu.lower()

    def has(feature, cpus):
        return flags[feature] if feature in flags else any(c in name for c in cpus)

    if not triple.startswith(("x86_64", "i386", "i686")):
        return Target(cpu, features, "generic", 4, 32 if triple.startswith(("aarch64", "arm64")) else 16)
    if has("avx512f", _AVX512_CPUS):
        return Target(cpu, features, "avx512", 16, 32)
    if has("avx2", _AVX2_CPUS + _AVX512_CPUS) and has("fma", _AVX2_CPUS + _AVX512_CPUS):
        return Target(cpu, features, "avx2", 8, 16)
    return Target(cpu, features, "generic", 4, 16)


def _target() -> Target:
    """What numba compiles for in this process (numba.core.codegen's own choice of CPU and features):
    the same values stamp each cached kernel (numba's index key holds them), so kernels cached for one
    target are never loaded for another, and the blocking chosen from them matches the code."""
    if numba is None:
        return Target("none", "", "generic", 4, 16)
    from numba.core.codegen import get_host_cpu_features

    cpu = numba.config.CPU_NAME or llvm.get_host_cpu_name()
    features = numba.config.CPU_FEATURES
    if features is None:
        features = get_host_cpu_features()  # numba's: the host's, less AVX where NUMBA_ENABLE_AVX=0
    return target_of(cpu, features, llvm.get_process_triple())


TARGET = _target()


# ---------------------------------------------------------------- the on-disk cache
# numba stamps a cached kernel with its own file only, so an edit to kernels.py would leave math.py's
# cached kernels, which hold the old products, in use. Every kernel of this package is stamped with
# all the package's files instead, as when the backend was one file. (NUMBA_CACHE_LOCATOR_CLASSES, if
# set, replaces this with numba's own stamps.)
_PACKAGE = os.path.dirname(os.path.abspath(__file__))


@functools.cache
def _package_stamp() -> str:
    digest = hashlib.sha256()
    for name in sorted(os.listdir(_PACKAGE)):
        if name.endswith(".py"):
            with open(os.path.join(_PACKAGE, name), "rb") as f:
                digest.update(name.encode() + b"\0" + f.read() + b"\0")
    return digest.hexdigest()


class _PackageStamp:
    """Mixin for numba's cache locators: kernels of this package only, stamped with the whole package."""

    @classmethod
    def from_function(cls, py_func, py_file):
        if os.path.dirname(os.path.abspath(py_file)) != _PACKAGE:
            return None  # another module's function: numba's own locators take it
        return super().from_function(py_func, py_file)

    def get_source_stamp(self):
        return _package_stamp()


def _stamp_kernels_with_the_package() -> None:
    if numba is None:
        return
    from numba.core import caching

    bases = (caching.UserProvidedCacheLocator, caching.InTreeCacheLocator, caching.UserWideCacheLocator)
    caching.CacheImpl._locator_classes[:0] = [type(f"Package{b.__name__}", (_PackageStamp, b), {}) for b in bases]


_stamp_kernels_with_the_package()


# ---------------------------------------------------------------- intrinsics
@intrinsic
def prefetch(typingctx, arr, index):
    """Start loading the cache line of arr[index] (1-D): a hint to the CPU, no effect on values."""

    def codegen(context, builder, signature, args):
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, signature.args[0], ary, [args[1]])
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [ptr.type, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0")
        builder.call(fn, [ptr, i32(0), i32(PREFETCH_LOCALITY), i32(1)])  # read, locality, data
        return context.get_dummy_value()

    return types.void(arr, index), codegen


@intrinsic
def float32_from_bits(typingctx, bits):
    """The float32 whose IEEE-754 bits are the int32 `bits`."""

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())

    return types.float32(types.int32), codegen


@intrinsic
def load_acquire(typingctx, arr, index):
    """arr[index] read atomically: what another thread stored before its `store_release` is visible."""

    def codegen(context, builder, signature, args):
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, signature.args[0], ary, [args[1]])
        return builder.load_atomic(ptr, "acquire", arr.dtype.bitwidth // 8)

    return arr.dtype(arr, index), codegen


@intrinsic
def store_release(typingctx, arr, index, value):
    """arr[index] = value atomically, after every earlier store of this thread."""

    def codegen(context, builder, signature, args):
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, signature.args[0], ary, [args[1]])
        builder.store_atomic(args[2], ptr, "release", arr.dtype.bitwidth // 8)
        return context.get_dummy_value()

    return types.void(arr, index, arr.dtype), codegen


@intrinsic
def pause(typingctx):
    """x86's PAUSE in a spin loop (lets the other hyperthread run, saves power); nothing elsewhere."""

    def codegen(context, builder, signature, args):
        if _X86:
            fnty = ir.FunctionType(ir.VoidType(), [])
            builder.call(cgutils.get_or_insert_function(builder.module, fnty, "llvm.x86.sse2.pause"), [])
        return context.get_dummy_value()

    return types.void(), codegen
