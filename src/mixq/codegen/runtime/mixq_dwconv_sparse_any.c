/* Portable dense-ternary + sparse-int8 depthwise convolution (see mixq_sparse.h). */
#include "mixq_sparse.h"

MIXQ_CONV_KERNEL(mixq_dwconv_sparse_any)
{
    (void)scratch;
    mixq_sparse_conv_walk(p, input, output, 1);
}
