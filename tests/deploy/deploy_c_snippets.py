"""Small C functions for the emulator tests (no generated project needed)."""

DOT_C = r"""
#include <stdint.h>
int32_t dot_s8(const int8_t *a, const int8_t *b, int n) {
  int32_t s = 0;
  for (int i = 0; i < n; i++) s += a[i] * b[i];
  return s;
}
int32_t g_counter = 5;
int32_t bump(void) { return ++g_counter; }
void copy_bytes(uint8_t *dst, const uint8_t *src, int n) {
  for (int i = 0; i < n; i++) dst[i] = src[i];
}
"""

MARKED_C = r"""
#include <stdint.h>
__attribute__((noipa)) void mixq_layer_mark(int index) { (void)index; __asm__ volatile(""); }
__attribute__((noinline)) static int32_t spin(volatile int32_t *x, int n) {
  for (int i = 0; i < n; i++) *x += i;
  return *x;
}
int32_t marked(int32_t *scratch, int a, int b) {
  scratch[0] = 0;
  mixq_layer_mark(0);
  spin(scratch, a);
  mixq_layer_mark(1);
  spin(scratch, b);
  mixq_layer_mark(2);
  return scratch[0];
}
"""
