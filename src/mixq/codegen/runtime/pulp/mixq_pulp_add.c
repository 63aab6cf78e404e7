/* PULP residual add split over the cluster cores (mixq_pulp.h): contiguous chunks of pixels,
 * each the portable add on its share. In place over an input of the output's code width, every
 * core reads and writes only its own pixels. */
#include "mixq_pulp.h"

void mixq_pulp_add(const mixq_add_params_t *p, const uint8_t *input_a, const uint8_t *input_b,
                   uint8_t *output, uint8_t *scratch)
{
    const int32_t a_bytes = mixq_row_bytes(p->c, p->a_bits);
    const int32_t b_bytes = mixq_row_bytes(p->c, p->b_bits);
    const int32_t out_bytes = mixq_row_bytes(p->c, p->out_bits);
    (void)scratch;
    for (int32_t core = 0; core < MIXQ_PULP_CORES; core++) {
        int32_t lo, hi;
        mixq_pulp_fork(core);
        mixq_pulp_chunk(p->pixels, core, MIXQ_PULP_CORES, &lo, &hi);
        if (lo < hi) {
            mixq_add_params_t q = *p;
            q.pixels = hi - lo;
            mixq_add_any(&q, input_a + lo * a_bytes, input_b + lo * b_bytes,
                         output + lo * out_bytes, NULL);
        }
    }
    mixq_pulp_fork(-1);
}
