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


def snippet_image(isa, folder, source, entries):
    """Build one C snippet for `isa` (an IsaRecord) in `folder` and load its image."""
    from mixq.deploy.build import build_elf

    (folder / "snippet.c").write_text(source)
    return isa.load(build_elf(isa, [folder / "snippet.c"], folder / "snippet.elf", entries=entries))


def check_dot_and_reset(core):
    """DOT_C's dot_s8 equals numpy on 0..257 int8 lanes; bump's static counter resets with data."""
    import numpy as np

    rng = np.random.default_rng(0)
    for n in (0, 1, 7, 257):
        a = rng.integers(-128, 128, n, dtype=np.int8)
        b = rng.integers(-128, 128, n, dtype=np.int8)
        core.write("a", a)
        core.write("b", b)
        assert core.call("dot_s8", ("a", "b", n)) == int(a.astype(np.int64) @ b.astype(np.int64))
    assert [core.call("bump"), core.call("bump")] == [6, 7]
    core.reset_data()
    assert core.call("bump") == 6
