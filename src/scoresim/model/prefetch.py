"""Prefetching: a kernel asks for a person's row some records before it reads it.

A day's records and events touch per-person arrays (standing rows, approval,
trait codes) at scattered people. At a million people and more those arrays
do not fit in cache, and a kernel that reads one person's row per record
waits for main memory once per record: the processor overlaps only the few
misses of the iterations it holds in flight. `prefetch(a, i)` tells it which
row comes next (LLVM's llvm.prefetch, a hint that changes no value), so that
a loop asking for the row `AHEAD` records early has many misses under way at
once. The numbers a kernel computes are the same with or without it.
"""

from __future__ import annotations

from llvmlite import binding, ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

# records ahead: far enough that the row has come when its record's turn comes (a
# miss is a few hundred cycles, an iteration a few dozen), near enough that it is
# still in cache then
AHEAD = 32
# the intrinsic's name carries its pointer type: opaque pointers (p0) from LLVM 15,
# i8* (p0i8) before
_INTRINSIC = "llvm.prefetch.p0" if binding.llvm_version_info >= (15,) else "llvm.prefetch.p0i8"


@intrinsic
def prefetch(typingctx, array, i):
    """Bring the cache line of array[i] (1-D) or of row i (2-D) towards the core, to be read
    soon. i must be a valid index: it is not checked (nor wrapped)."""
    if not isinstance(array, types.Array) or not isinstance(i, types.Integer):
        return None
    sig = types.void(array, i)

    def codegen(context, builder, signature, args):
        aryty, ity = signature.args
        ary = context.make_array(aryty)(context, builder, args[0])
        first = context.cast(builder, args[1], ity, types.intp)
        zero = context.get_constant(types.intp, 0)
        ptr = cgutils.get_item_pointer2(
            context, builder, data=ary.data, shape=cgutils.unpack_tuple(builder, ary.shape),
            strides=cgutils.unpack_tuple(builder, ary.strides), layout=aryty.layout,
            inds=[first] + [zero] * (aryty.ndim - 1))
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, _INTRINSIC)
        # (address, 0: to read, 3: keep in all cache levels, 1: data, not code)
        builder.call(fn, [builder.bitcast(ptr, i8p), ir.Constant(i32, 0), ir.Constant(i32, 3),
                          ir.Constant(i32, 1)])
        return context.get_dummy_value()

    return sig, codegen
