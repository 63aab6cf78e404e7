/* Reference depthwise convolution (see mixq_kernels.h). */
#include "mixq_kernels.h"

MIXQ_CONV_KERNEL(mixq_dwconv_any)
{
    (void)scratch;
    mixq_conv_walk_any(p, input, output, 1);
}
