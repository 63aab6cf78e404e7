/* Reference regular convolution, generic over code widths (see mixq_kernels.h). */
#include "mixq_kernels.h"

MIXQ_CONV_KERNEL(mixq_conv2d_any)
{
    (void)scratch;
    mixq_conv_walk_any(p, input, output, 0);
}
