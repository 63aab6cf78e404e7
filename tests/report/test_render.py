"""tradeoff.png: the log-axis tick labels are readable (none overlap)."""

import itertools

import pytest

from mixq.report.render import plot_figure, render_plot


def report(flash_values, deployed=True):
    models = []
    for i, (name, flash) in enumerate(zip(("float", "int8", "int8-fit", "mixed"), flash_values)):
        m = {"name": name, "flash_bytes": flash, "ram_peak_bytes": 1000 * (i + 1),
             "top1_float": 0.5 + 0.1 * i, "top1_integer": None if name == "float" else 0.4 + i / 10}
        if deployed and name != "float":
            m.update({"est_latency_ms": 1.0 + i, "deployed_flash_bytes": 2 * flash,
                      "clock_hz": 400e6})
        models.append(m)
    return {"models": models, "budget": {"flash_bytes": flash_values[2], "ram_bytes": 2000}}


def labelled_ticks(ax):
    """(text, window box) of every labelled x tick inside the axis limits, major and minor."""
    ax.figure.canvas.draw()
    lo, hi = ax.get_xlim()
    ticks = ax.xaxis.get_major_ticks() + ax.xaxis.get_minor_ticks()
    return [(t.label1.get_text(), t.label1.get_window_extent()) for t in ticks
            if lo <= t.get_loc() <= hi and t.label1.get_visible() and t.label1.get_text()]


@pytest.mark.parametrize("flash", [
    (36136, 11458, 4130, 5986),             # the demo's figures (minor labels overlapped)
    (4_000_000, 1_900_000, 900_000, 2_500),  # paper scale: three decades and more
    (1200, 1100, 1000, 1050),               # less than one decade
])
def test_flash_tick_labels_do_not_overlap(flash):
    fig = plot_figure(report(flash))
    try:
        ticks = labelled_ticks(fig.axes[0])
        assert len(ticks) >= 2  # still readable: at least two labelled values
        for (a, box_a), (b, box_b) in itertools.combinations(ticks, 2):
            assert not box_a.overlaps(box_b), (a, b)
        assert all(text.endswith(("B", "kB", "MB")) for text, _ in ticks)
    finally:
        import matplotlib.pyplot as plt

        plt.close(fig)


def test_render_plot_is_a_deterministic_png():
    a, b = render_plot(report((36136, 11458, 4130, 5986))), render_plot(
        report((36136, 11458, 4130, 5986)))
    assert a[:8] == b"\x89PNG\r\n\x1a\n" and a == b
