/* Portable dense-ternary + sparse-int8 convolution, any kernel size (see mixq_sparse.h). */
#include "mixq_sparse.h"

MIXQ_CONV_KERNEL(mixq_conv2d_sparse_any)
{
    (void)scratch;
    mixq_sparse_conv_walk(p, input, output, 0);
}
