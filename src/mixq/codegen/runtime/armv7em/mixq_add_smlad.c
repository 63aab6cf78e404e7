/* Residual add of 8-bit codes on ARMv7E-M with SMLAD (see mixq_eltwise_dsp.h): four elements per
 * word, the pair (a_i, b_i) of each element in one register's two halfwords, two SMLADs per
 * element, no 64-bit arithmetic.
 *
 * The rule y = clamp((a * ma + b * mb + r) >> s, act_min, act_max), r = 2^(s-1), is computed
 * exactly with 16-bit pieces of the int32 multipliers: m = mh * 2^16 + ml, ml the low halfword
 * sign-extended (so mh = (m - ml) / 2^16 fits int16 when m < 2^31 - 2^15). Signed codes are moved
 * to offset binary (a = a_u - 128: the -128 * ma goes into the constant), so both lanes hold
 * a_u, b_u in [0, 255]; with r' = r - 128 * ma [a signed] - 128 * mb [b signed] = rh * 2^16 + rl,
 * rl in [0, 2^16):
 *   a * ma + b * mb + r = 2^16 * H + L,  H = a_u * mh_a + b_u * mh_b + rh,
 *                                        L = a_u * ml_a + b_u * ml_b + rl,
 * and for s >= 16, floor((2^16 H + L) / 2^s) = (H + (L >> 16)) >> (s - 16) (floors compose).
 * |L|, |H| stay below 2^24 + 2^30 for s <= 47, so nothing wraps. mixq.codegen.
 * kernels_armv7em_eltwise.smlad_add_supported checks s in [16, 47] and that mh fits int16.
 * Word by word, each output word written after its input words were read: in place over a or b
 * is safe. */
#include "mixq_dsp.h"
#include "mixq_eltwise_dsp.h"

/* Output code of one element whose lanes x = (a_u, b_u), before the clamp. */
MIXQ_INLINE int32_t mixq_add_smlad_one(uint32_t x, uint32_t mh, uint32_t ml, int32_t rh,
                                       int32_t rl, int32_t down)
{
    const int32_t l = mixq_smlad(x, ml, rl);
    const int32_t h = mixq_smlad(x, mh, rh);
    return (h + (l >> 16)) >> down; /* arithmetic shifts: floors */
}

/* The four output bytes of the input words wa, wb, clamped to [0, 255]; flip (0 or 0x80808080
 * in the halfword of each signed input) moves signed codes to offset binary. */
MIXQ_INLINE uint32_t mixq_add_smlad_word(uint32_t wa, uint32_t wb, uint32_t flip, uint32_t mh,
                                         uint32_t ml, int32_t rh, int32_t rl, int32_t down)
{
    const uint32_t lo = mixq_pkhbt16(wa, wb) ^ flip; /* bytes a0 a1 b0 b1 */
    const uint32_t hi = mixq_pkhtb16(wa, wb) ^ flip; /* bytes a2 a3 b2 b3 */
    const uint32_t y0 = (uint32_t)mixq_usat(mixq_add_smlad_one(mixq_uxtb16(lo), mh, ml, rh, rl,
                                                               down), 8);
    const uint32_t y1 = (uint32_t)mixq_usat(mixq_add_smlad_one(mixq_uxtb16_ror8(lo), mh, ml, rh,
                                                               rl, down), 8);
    const uint32_t y2 = (uint32_t)mixq_usat(mixq_add_smlad_one(mixq_uxtb16(hi), mh, ml, rh, rl,
                                                               down), 8);
    const uint32_t y3 = (uint32_t)mixq_usat(mixq_add_smlad_one(mixq_uxtb16_ror8(hi), mh, ml, rh,
                                                               rl, down), 8);
    return (y0 | y1 << 8) | (y2 | y3 << 8) << 16;
}

/* Whole words of a full-range add; `down` a constant in the specialised calls below (the shift
 * then folds into USAT). Returns the elements done. */
MIXQ_INLINE int32_t mixq_add_smlad_words(const uint8_t *a, const uint8_t *b, uint8_t *y,
                                         int32_t words, uint32_t flip, uint32_t mh, uint32_t ml,
                                         int32_t rh, int32_t rl, int32_t down)
{
    const uint8_t *const end = a + 4 * words;
    while (a != end) {
        uint32_t wa, wb;
        memcpy(&wa, a, 4); /* one LDR each (unaligned access is allowed) */
        memcpy(&wb, b, 4);
        const uint32_t w = mixq_add_smlad_word(wa, wb, flip, mh, ml, rh, rl, down);
        memcpy(y, &w, 4);
        a += 4;
        b += 4;
        y += 4;
    }
    return 4 * words;
}

/* Halfword pair (lo16(x), lo16(y)) of two 16-bit pieces. */
static uint32_t mixq_add_pack16(int32_t x, int32_t y)
{
    return ((uint32_t)x & 0xFFFFu) | (uint32_t)y << 16;
}

/* The low 16-bit piece of m, sign-extended (m = hi * 2^16 + lo). */
static int32_t mixq_add_low16(int32_t m)
{
    return (int32_t)(int16_t)(uint16_t)((uint32_t)m & 0xFFFFu);
}

void mixq_add_smlad_u8(const mixq_add_params_t *p, const uint8_t *input_a, const uint8_t *input_b,
                       uint8_t *output, uint8_t *scratch)
{
    const int32_t n = p->pixels * p->c;
    const int32_t ma = p->multiplier_a, mb = p->multiplier_b;
    const int32_t la = mixq_add_low16(ma), lb = mixq_add_low16(mb);
    const int32_t ha = (int32_t)(((int64_t)ma - la) / 65536), hb = (int32_t)(((int64_t)mb - lb) / 65536);
    const uint32_t mh = mixq_add_pack16(ha, hb), ml = mixq_add_pack16(la, lb);
    const int64_t r = ((int64_t)1 << (p->shift - 1)) - (p->a_signed ? 128 * (int64_t)ma : 0) -
                      (p->b_signed ? 128 * (int64_t)mb : 0);
    const int32_t rl = (int32_t)(r & 0xFFFF), rh = (int32_t)((r - rl) / 65536);
    const int32_t down = p->shift - 16;
    const int32_t lo = p->act_min, hi = p->act_max;
    const uint32_t flip = (p->a_signed ? 0x8080u : 0u) | (p->b_signed ? 0x80800000u : 0u);
    int32_t i = 0;
    (void)scratch;
    if (lo == 0 && hi == 255) {
        /* one loop per common shift, s = 29..32 (ratios 0.25..4), the shift folded into USAT,
         * with and without the flip; the shift stays a variable in the others */
        const int32_t words = n / 4;
#define MIXQ_ADD_SMLAD_CASE(d)                                                                \
    case d:                                                                                   \
        i = flip ? mixq_add_smlad_words(input_a, input_b, output, words, flip, mh, ml, rh, rl, \
                                        d)                                                    \
                 : mixq_add_smlad_words(input_a, input_b, output, words, 0u, mh, ml, rh, rl,   \
                                        d);                                                   \
        break;
        switch (down) {
            MIXQ_ADD_SMLAD_CASE(13)
            MIXQ_ADD_SMLAD_CASE(14)
            MIXQ_ADD_SMLAD_CASE(15)
            MIXQ_ADD_SMLAD_CASE(16)
        default:
            i = mixq_add_smlad_words(input_a, input_b, output, words, flip, mh, ml, rh, rl, down);
        }
#undef MIXQ_ADD_SMLAD_CASE
    }
    for (; i < n; ++i) { /* narrow clamps and the last n % 4 elements */
        const uint32_t x = ((uint32_t)input_a[i] | (uint32_t)input_b[i] << 16) ^ (flip & 0x800080u);
        const int32_t v = mixq_usat(mixq_add_smlad_one(x, mh, ml, rh, rl, down), 8);
        output[i] = (uint8_t)(v < lo ? lo : (v > hi ? hi : v));
    }
}
