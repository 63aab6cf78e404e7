/* mixq_dw_dsp.h: the pieces the ARMv7E-M DSP depthwise kernels share (mixq_dwconv3x3_dsp,
 * mixq_dwconv_dsp; implemented in mixq_dw_ring_dsp.c).
 *
 * Both keep, per chunk of channels, a ring of transposed input rows: one int16 row per channel
 * and input row (lane L = input column L - pad_left, zero padding included), so that two
 * horizontally adjacent taps of one channel are one 32-bit word (SMLAD). Sub-byte outputs are
 * staged one code per byte in a permuted order (mixq_dw_slot) and packed once per output row. */
#ifndef MIXQ_DW_DSP_H
#define MIXQ_DW_DSP_H

#include "mixq_dsp.h"

/* Staging position of channel ch (bits 4 or 2, per = 8 / bits codes per byte, g = 32 / bits per
 * word): channel per * j + k of a word of channels goes to byte 4 * k + j, so that the packed
 * word is OR over k of (staged word k) << (k * bits). */
MIXQ_INLINE int32_t mixq_dw_slot(int32_t ch, int32_t bits) {
  const int32_t lp = bits == 4 ? 1 : 2, g = 4 << lp; /* per = 1 << lp */
  return (ch & -g) + (ch & ((1 << lp) - 1)) * 4 + ((ch & (g - 1)) >> lp);
}

/* Transpose input row iy, channels c0 .. c0 + n - 1, into the data lanes of n int16 rows of rl
 * lanes starting at rows (pixel 0 at lane pad_left; the padding lanes are left alone, zero from
 * the chunk's start; rows outside the input are zeroed whole). Out of line, once per row:
 * inlined, its loops spill registers. */
void mixq_dw_fill(const mixq_conv_params_t *p, const uint8_t *input, int32_t iy, int32_t c0,
                  int32_t n, int16_t *rows, int32_t rl);
/* The same with the input's pixel step (xstep) and row step (ystep) in bytes given: p may be
 * a transposed view of the layer (mixq_dwconv3x3_dsp on tall maps: xstep is then the row of
 * the input and ystep its pixel). */
void mixq_dw_fill_steps(const mixq_conv_params_t *p, const uint8_t *input, int32_t iy,
                        int32_t c0, int32_t n, int16_t *rows, int32_t rl, int32_t xstep,
                        int32_t ystep);

/* Pack one output row of staged codes (stage[x * sstep + mixq_dw_slot(ch)], ch < n, empty slots
 * zero) into the packed pixels at out + x * opb (u4 / u2 codes). */
void mixq_dw_pack_row4(const uint8_t *stage, int32_t sstep, int32_t n, int32_t w, uint8_t *out,
                       int32_t opb);
void mixq_dw_pack_row2(const uint8_t *stage, int32_t sstep, int32_t n, int32_t w, uint8_t *out,
                       int32_t opb);

#endif /* MIXQ_DW_DSP_H */
