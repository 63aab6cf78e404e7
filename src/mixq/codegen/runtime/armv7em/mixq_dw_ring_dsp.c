/* mixq_dw_ring_dsp: the depthwise DSP kernels' row transposition and sub-byte output packing
 * (declared and described in mixq_dw_dsp.h). */
#include "mixq_dw_dsp.h"

MIXQ_INLINE void mixq_dw_put(int16_t *d, uint32_t pair) { memcpy(d, &pair, 4); }

/* Transpose the pixels of one input row into the channel rows (d: lane of pixel 0 of channel
 * 0, rl lanes per channel row), two pixels at a time into 32-bit lane pairs. 8-bit: per word of
 * codes UXTB16 gives two channels of one pixel, PKHBT / PKHTB pair them with the next pixel.
 * 4-, 2-bit: PKHBT / PKHTB first pair the low (high) halfwords of the two pixels' words, then
 * one AND with a shifted operand per channel gives (code at x, code at x + 1). Whole words
 * first (8-bit: and the last pixel of an odd row), then the chunk's last codes and (4-, 2-bit)
 * the last pixel of an odd row one by one. */
MIXQ_INLINE void mixq_dw_fill_bits(const uint8_t *src, int32_t px_bytes, int32_t in_w,
                                   int32_t n, int16_t *d, int32_t rl, int32_t bits) {
  const int32_t per = 32 / bits, full = n / per;
  const int32_t pairs = in_w / 2;
  /* the mask in a register: then AND takes the shifted word as its second operand (one
   * instruction per lane pair instead of LSR + AND with an immediate) */
  const uint32_t mask = mixq_opaque(bits == 4 ? 0x000F000Fu : 0x00030003u);
  for (int32_t g = 0; g < (bits == 8 ? full : 0); g++) { /* 8-bit */
    const uint8_t *s = src + 4 * g;
    int16_t *dg = d + g * per * rl;
    for (int32_t x = 0; x < pairs; x++, s += 2 * px_bytes, dg += 2) {
      const uint32_t v0 = mixq_dsp_load32(s), v1 = mixq_dsp_load32(s + px_bytes);
      const uint32_t e0 = mixq_uxtb16(v0), e1 = mixq_uxtb16(v1);          /* (c0, c2) */
      const uint32_t o0 = mixq_uxtb16_ror8(v0), o1 = mixq_uxtb16_ror8(v1); /* (c1, c3) */
      mixq_dw_put(dg, mixq_pkhbt16(e0, e1));
      mixq_dw_put(dg + rl, mixq_pkhbt16(o0, o1));
      mixq_dw_put(dg + 2 * rl, mixq_pkhtb16(e0, e1));
      mixq_dw_put(dg + 3 * rl, mixq_pkhtb16(o0, o1));
    }
  }
  /* 8-bit, the last pixel of an odd row: one lane per channel (a loop of its own: inside the
   * one above it costs the pair loop a rotation) */
  for (int32_t g = 0; g < (bits == 8 && (in_w & 1) ? full : 0); g++) {
    const uint32_t v = mixq_dsp_load32(src + 4 * g + (in_w - 1) * px_bytes);
    int16_t *dg = d + g * per * rl + in_w - 1;
    for (int32_t k = 0; k < 4; k++) dg[k * rl] = (int16_t)(v >> (8 * k) & 0xFFu);
  }
  /* 4-, 2-bit: codes 0 .. half - 1 (lo) and half .. per - 1 (hi) of pixel x | pixel x + 1 << 16
   * (PKHBT / PKHTB), one AND per channel; one pass per 8 channels, writing two groups of four
   * channel rows through two base pointers and three shared offsets (no spills). */
  for (int32_t g = 0; g < (bits == 8 ? 0 : full); g++) {
    for (int32_t part = 0; part < per / 8; part++) {
      const uint8_t *s = src + 4 * g;
      int16_t *da = d + (g * per + 8 * part) * rl, *db = da + 4 * rl;
#if defined(__GNUC__)
      __asm__("" : "+r"(db)); /* two bases, not da + 4 * rl with a fourth offset */
#endif
      for (int32_t x = 0; x < pairs; x++, s += 2 * px_bytes, da += 2, db += 2) {
        const uint32_t v0 = mixq_dsp_load32(s), v1 = mixq_dsp_load32(s + px_bytes);
        const uint32_t u = part == 0 ? mixq_pkhbt16(v0, v1) : mixq_pkhtb16(v0, v1);
        if (bits == 4) {
          const uint32_t h = mixq_pkhtb16(v0, v1);
          for (int32_t k = 0; k < 4; k++) {
            mixq_dw_put(da + k * rl, (u >> (4 * k)) & mask);
            mixq_dw_put(db + k * rl, (h >> (4 * k)) & mask);
          }
        } else {
          for (int32_t k = 0; k < 4; k++) {
            mixq_dw_put(da + k * rl, (u >> (2 * k)) & mask);
            mixq_dw_put(db + k * rl, (u >> (2 * k + 8)) & mask);
          }
        }
      }
    }
  }
  /* channels past the whole words, then the last pixel of an odd row */
  const int32_t cw = full * per;
  if (cw < n) {
    for (int32_t x = 0; x < in_w; x++) {
      for (int32_t ch = cw; ch < n; ch++) {
        d[ch * rl + x] = (int16_t)mixq_load_code(src + x * px_bytes, ch, bits, 0);
      }
    }
  }
  if ((in_w & 1) && bits != 8) {
    for (int32_t ch = 0; ch < cw; ch++) {
      d[ch * rl + in_w - 1] = (int16_t)mixq_load_code(src + (in_w - 1) * px_bytes, ch, bits, 0);
    }
  }
}

void mixq_dw_fill_steps(const mixq_conv_params_t *p, const uint8_t *input, int32_t iy,
                        int32_t c0, int32_t n, int16_t *rows, int32_t rl, int32_t xstep,
                        int32_t ystep) {
  if (iy < 0 || iy >= p->in_h) {
    memset(rows, 0, (size_t)n * (size_t)rl * 2);
    return;
  }
  const int32_t bits = p->in_bits, left = p->pad_left, in_w = p->in_w;
  const uint8_t *src = input + iy * ystep + c0 * bits / 8;
  if (bits == 8) mixq_dw_fill_bits(src, xstep, in_w, n, rows + left, rl, 8);
  else if (bits == 4) mixq_dw_fill_bits(src, xstep, in_w, n, rows + left, rl, 4);
  else mixq_dw_fill_bits(src, xstep, in_w, n, rows + left, rl, 2);
}

void mixq_dw_fill(const mixq_conv_params_t *p, const uint8_t *input, int32_t iy, int32_t c0,
                  int32_t n, int16_t *rows, int32_t rl) {
  const int32_t px_bytes = mixq_row_bytes(p->in_c, p->in_bits);
  mixq_dw_fill_steps(p, input, iy, c0, n, rows, rl, px_bytes, p->in_w * px_bytes);
}

/* x | y << k (k a constant): one ORR with a shifted operand (gcc 12 reassociates chains of
 * them into an extra shift) */
#if defined(__ARM_FEATURE_DSP)
#define mixq_dw_orr_lsl(x, y, k)                                                 \
  __extension__({                                                               \
    uint32_t r_;                                                                \
    __asm__("orr %0, %1, %2, lsl #" #k : "=r"(r_) : "r"(x), "r"(y));           \
    r_;                                                                         \
  })
#else
#define mixq_dw_orr_lsl(x, y, k) ((x) | (y) << (k))
#endif

/* Packed word i of staged codes s (4-byte aligned): OR of the four (4-bit: two) staged words
 * of its channels shifted by k * bits. */
MIXQ_INLINE uint32_t mixq_dw_pack_word(const uint8_t *s, int32_t i, int32_t bits) {
  const mixq_u32a *q = (const mixq_u32a *)(const void *)s + i * (8 / bits);
  uint32_t word = q[0];
  word |= q[1] << bits;
  if (bits == 2) {
    word |= q[2] << 4;
    word |= q[3] << 6;
  }
  return word;
}

/* Pack one output row of staged codes (stage[x * sstep + mixq_dw_slot(ch)], ch < n, empty
 * slots zero) into packed pixels at out + x * opb; a partial last word is masked and stored
 * byte by byte. Called out of line, once per row (mixq_dw_pack_row4 / 2). */
MIXQ_INLINE void mixq_dw_pack_row(const uint8_t *stage, int32_t sstep, int32_t n, int32_t w,
                                  int32_t bits, uint8_t *out, int32_t opb) {
  const int32_t g = 32 / bits, full = n / g, tail = n - full * g;
  if (n == 16) { /* whole chunk: 16 staged codes (sstep) per pixel, 2 or 1 words */
    const mixq_u32a *q = (const mixq_u32a *)(const void *)stage;
    for (int32_t x = 0; x < w; x++, out += opb) {
      uint32_t a, b, c, d;
      MIXQ_LDRD(a, b, q);
      MIXQ_LDRD(c, d, q);
      if (bits == 4) {
        a = mixq_dw_orr_lsl(a, b, 4);
        c = mixq_dw_orr_lsl(c, d, 4);
        memcpy(out, &a, 4);
        memcpy(out + 4, &c, 4);
      } else {
        a = mixq_dw_orr_lsl(a, b, 2);
        a = mixq_dw_orr_lsl(a, c, 4);
        a = mixq_dw_orr_lsl(a, d, 6);
        memcpy(out, &a, 4);
      }
    }
    return;
  }
  for (int32_t x = 0; x < w; x++, stage += sstep, out += opb) {
    for (int32_t i = 0; i < full; i++) {
      const uint32_t word = mixq_dw_pack_word(stage, i, bits);
      memcpy(out + 4 * i, &word, 4);
    }
    if (tail) {
      const uint32_t word = mixq_dw_pack_word(stage, full, bits) & ((1u << (tail * bits)) - 1u);
      for (int32_t b = 0; b < (tail * bits + 7) / 8; b++) {
        out[4 * full + b] = (uint8_t)(word >> (8 * b));
      }
    }
  }
}

void mixq_dw_pack_row4(const uint8_t *stage, int32_t sstep, int32_t n, int32_t w, uint8_t *out,
                       int32_t opb) {
  mixq_dw_pack_row(stage, sstep, n, w, 4, out, opb);
}
void mixq_dw_pack_row2(const uint8_t *stage, int32_t sstep, int32_t n, int32_t w, uint8_t *out,
                       int32_t opb) {
  mixq_dw_pack_row(stage, sstep, n, w, 2, out, opb);
}
