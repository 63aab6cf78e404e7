/* mixq_conv2d_dsp_s8 / _s4 / _s2: convolution, pointwise and fully connected layers on
 * ARMv7E-M DSP, u8/u4/u2 activations (see mixq_dsp.h for the lane conventions).
 *
 * im2col with 2x2 register blocking (2 output pixels x 2 output channels, after CMSIS-NN's
 * mat_mult kernel): per pixel pair the receptive fields are widened once into two int16 columns
 * (scratch); per output channel pair the inner loop reads one 32-bit weight word per row and
 * chunk of 32 / w_bits lanes (the two rows interleaved: one LDRD), widens it with a mask and
 * SXTB16, and issues 4 SMLAD per pair of lanes. The three variants are one always-inline body
 * specialised by the compiler for a constant weight width. */
#include "mixq_dsp.h"

/* int16 lanes of one im2col column: each tap's in_c codes widened to whole words of
 * 32 / in_bits lanes, the total rounded up to whole weight words of 32 / w_bits lanes. */
static int32_t mixq_dsp_conv_k_lanes(const mixq_conv_params_t *p) {
  const int32_t per_in = 32 / p->in_bits, per_w = 32 / p->w_bits;
  const int32_t tap = (p->in_c + per_in - 1) / per_in * per_in;
  return (p->k_h * p->k_w * tap + per_w - 1) / per_w * per_w;
}

int32_t mixq_conv2d_dsp_scratch_bytes(const mixq_conv_params_t *p) {
  return (p->out_h * p->out_w > 1 ? 2 : 1) * mixq_dsp_conv_k_lanes(p) * 2;
}

/* Widen the receptive field of output pixel `pix` into k_lanes int16 lanes (zero lanes for
 * padding taps and for the tail). */
static void mixq_dsp_im2col(const mixq_conv_params_t *p, const uint8_t *input, int32_t pix,
                            int16_t *col, int32_t k_lanes) {
  const int32_t bits = p->in_bits;
  const int32_t px_bytes = mixq_row_bytes(p->in_c, bits);
  const int32_t per_word = 32 / bits;
  const int32_t tap_lanes = (p->in_c + per_word - 1) / per_word * per_word;
  const int32_t oy = pix / p->out_w, ox = pix - oy * p->out_w;
  const int32_t iy0 = oy * p->stride_h - p->pad_top, ix0 = ox * p->stride_w - p->pad_left;
  int16_t *d = col;
  for (int32_t ky = 0; ky < p->k_h; ky++) {
    const int32_t iy = iy0 + ky;
    for (int32_t kx = 0; kx < p->k_w; kx++) {
      const int32_t ix = ix0 + kx;
      if (iy < 0 || iy >= p->in_h || ix < 0 || ix >= p->in_w) {
        memset(d, 0, (size_t)tap_lanes * 2);
        d += tap_lanes;
      } else if (bits == 8) {
        d = mixq_dsp_expand(d, input + (iy * p->in_w + ix) * px_bytes, p->in_c, 8);
      } else if (bits == 4) {
        d = mixq_dsp_expand(d, input + (iy * p->in_w + ix) * px_bytes, p->in_c, 4);
      } else {
        d = mixq_dsp_expand(d, input + (iy * p->in_w + ix) * px_bytes, p->in_c, 2);
      }
    }
  }
  if (d < col + k_lanes) memset(d, 0, (size_t)(col + k_lanes - d) * 2);
}

/* Widen weight word w for lanes 4j .. 4j+3 of its chunk: *x gets lanes (4j, 4j+2), *y lanes
 * (4j+1, 4j+3) in the SMLAD pairing of mixq_dsp.h. Sub-byte codes come out times 2^(8-bits). */
MIXQ_INLINE void mixq_dsp_widen(uint32_t w, int32_t j, int32_t bits, uint32_t *x, uint32_t *y) {
  if (bits == 8) {
    *x = mixq_sxtb16(w);
    *y = mixq_sxtb16_ror8(w);
  } else {
    const uint32_t top = 0x01010101u * (0xFFu & (0xFFu << (8 - bits)));
    const uint32_t m = (w << (8 - bits - bits * j)) & top;
    *x = mixq_sxtb16(m);
    *y = mixq_sxtb16_ror8(m);
  }
}

/* acc[0..3] = rows (0, 1) x columns (a, b) over n_chunks chunks of 32 / bits lanes. */
MIXQ_INLINE void mixq_dsp_mac_2x2(const mixq_u32a *w, const mixq_u32a *a, const mixq_u32a *b,
                                  int32_t n_chunks, int32_t bits, int32_t *acc) {
  int32_t s00 = 0, s01 = 0, s10 = 0, s11 = 0;
  const mixq_u32a *w_end = w + 2 * n_chunks;
  while (w < w_end) {
    uint32_t w0, w1;
    MIXQ_LDRD(w0, w1, w);
    for (int32_t j = 0; j < 8 / bits; j++) {
      uint32_t a0, a1, b0, b1, x, y;
      MIXQ_LDRD(a0, a1, a);
      MIXQ_LDRD(b0, b1, b);
      mixq_dsp_widen(w0, j, bits, &x, &y);
      s00 = mixq_smlad(x, a0, s00); s00 = mixq_smlad(y, a1, s00);
      s01 = mixq_smlad(x, b0, s01); s01 = mixq_smlad(y, b1, s01);
      mixq_dsp_widen(w1, j, bits, &x, &y);
      s10 = mixq_smlad(x, a0, s10); s10 = mixq_smlad(y, a1, s10);
      s11 = mixq_smlad(x, b0, s11); s11 = mixq_smlad(y, b1, s11);
    }
  }
  acc[0] = s00; acc[1] = s01; acc[2] = s10; acc[3] = s11;
}

/* acc[0..1] = rows (0, 1) x column a (last pixel of an odd count; fully connected layers). */
MIXQ_INLINE void mixq_dsp_mac_2x1(const mixq_u32a *w, const mixq_u32a *a, int32_t n_chunks,
                                  int32_t bits, int32_t *acc) {
  int32_t s0 = 0, s1 = 0;
  const mixq_u32a *w_end = w + 2 * n_chunks;
  while (w < w_end) {
    uint32_t w0, w1;
    MIXQ_LDRD(w0, w1, w);
    for (int32_t j = 0; j < 8 / bits; j++) {
      uint32_t a0, a1, x, y;
      MIXQ_LDRD(a0, a1, a);
      mixq_dsp_widen(w0, j, bits, &x, &y);
      s0 = mixq_smlad(x, a0, s0); s0 = mixq_smlad(y, a1, s0);
      mixq_dsp_widen(w1, j, bits, &x, &y);
      s1 = mixq_smlad(x, a0, s1); s1 = mixq_smlad(y, a1, s1);
    }
  }
  acc[0] = s0; acc[1] = s1;
}

MIXQ_INLINE void mixq_dsp_conv_out(const mixq_conv_params_t *p, uint8_t *px, int32_t oc,
                                   int32_t acc, int32_t bits) {
  const int32_t y = mixq_dsp_requant((acc >> (8 - bits)) + p->bias[oc], p->multiplier[oc],
                                     p->shift[oc], p->act_min, p->act_max);
  mixq_dsp_store(px, oc, y, p->out_bits);
}

MIXQ_INLINE void mixq_dsp_conv(const mixq_conv_params_t *p, const uint8_t *input,
                               uint8_t *output, uint8_t *scratch, const int32_t bits) {
  const int32_t k_lanes = mixq_dsp_conv_k_lanes(p);
  const int32_t n_chunks = k_lanes / (32 / bits);
  const int32_t out_c = p->out_c;
  const int32_t out_px_bytes = mixq_row_bytes(out_c, p->out_bits);
  const int32_t n_pix = p->out_h * p->out_w;
  int16_t *col_a = (int16_t *)(void *)scratch;
  int16_t *col_b = col_a + k_lanes;
  const mixq_u32a *ca = (const mixq_u32a *)(void *)col_a;
  const mixq_u32a *cb = (const mixq_u32a *)(void *)col_b;
  int32_t pix = 0;
  for (; pix + 1 < n_pix; pix += 2) {
    uint8_t *out_a = output + pix * out_px_bytes;
    uint8_t *out_b = out_a + out_px_bytes;
    mixq_dsp_im2col(p, input, pix, col_a, k_lanes);
    mixq_dsp_im2col(p, input, pix + 1, col_b, k_lanes);
    const mixq_u32a *w = (const mixq_u32a *)(const void *)p->weight;
    for (int32_t oc = 0; oc < out_c; oc += 2) {
      int32_t acc[4];
      mixq_dsp_mac_2x2(w, ca, cb, n_chunks, bits, acc);
      w += 2 * n_chunks;
      mixq_dsp_conv_out(p, out_a, oc, acc[0], bits);
      mixq_dsp_conv_out(p, out_b, oc, acc[1], bits);
      if (oc + 1 < out_c) {
        mixq_dsp_conv_out(p, out_a, oc + 1, acc[2], bits);
        mixq_dsp_conv_out(p, out_b, oc + 1, acc[3], bits);
      }
    }
  }
  if (pix < n_pix) {
    uint8_t *out_a = output + pix * out_px_bytes;
    mixq_dsp_im2col(p, input, pix, col_a, k_lanes);
    const mixq_u32a *w = (const mixq_u32a *)(const void *)p->weight;
    for (int32_t oc = 0; oc < out_c; oc += 2) {
      int32_t acc[2];
      mixq_dsp_mac_2x1(w, ca, n_chunks, bits, acc);
      w += 2 * n_chunks;
      mixq_dsp_conv_out(p, out_a, oc, acc[0], bits);
      if (oc + 1 < out_c) mixq_dsp_conv_out(p, out_a, oc + 1, acc[1], bits);
    }
  }
}

void mixq_conv2d_dsp_s8(const mixq_conv_params_t *p, const uint8_t *input, uint8_t *output,
                        uint8_t *scratch) {
  mixq_dsp_conv(p, input, output, scratch, 8);
}

void mixq_conv2d_dsp_s4(const mixq_conv_params_t *p, const uint8_t *input, uint8_t *output,
                        uint8_t *scratch) {
  mixq_dsp_conv(p, input, output, scratch, 4);
}

void mixq_conv2d_dsp_s2(const mixq_conv_params_t *p, const uint8_t *input, uint8_t *output,
                        uint8_t *scratch) {
  mixq_dsp_conv(p, input, output, scratch, 2);
}
