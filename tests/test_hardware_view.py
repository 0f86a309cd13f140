"""The Hardware & cost tab, offscreen: plots that read like a monitor, absent sensors as one line
of text (no empty plots), model speed from the runs' meters, and the cost chart."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPointF
from PySide6.QtGui import QColor

from lexbrief.costs.chart import chart_for_run
from lexbrief.costs.compare import compare_numbers
from lexbrief.costs.pricing import load_pricing
from lexbrief.engine.contract import Usage
from lexbrief.machine.telemetry.samples import GpuSample, Sample
from lexbrief.machine.telemetry.speed import SpeedMeter
from lexbrief.paths import resource_dir
from lexbrief.ui.gui.cost_chart import CostChartView
from lexbrief.ui.gui.database import Database
from lexbrief.ui.gui.hardware_view import HardwareView
from lexbrief.ui.gui.plot import LivePlot, nice_top, time_ticks, value_ticks

pytestmark = pytest.mark.gui

NO_GPU = {"gpu": "NVML Shared Library Not Found; no amdgpu card in /sys/class/drm",
          "cpu_energy": "no RAPL counters under /sys/class/powercap",
          "battery": "no battery (a desktop, server or virtual machine)"}


def _sample(t: float, *, gpus: tuple[GpuSample, ...] = (), watts: float | None = None,
            unavailable: dict[str, str] | None = None) -> Sample:
    return Sample(time=1e9 + t, monotonic=t, cpu_count=2, cpu_percent=80.0,
                  process_cpu_percent=55.0, ram_used_bytes=6 * 2**30,
                  ram_total_bytes=24 * 2**30, process_rss_bytes=2**29, gpus=gpus,
                  cpu_power_watts=watts,
                  unavailable=NO_GPU if unavailable is None else unavailable)


@pytest.fixture
def view(qtbot):  # type: ignore[no-untyped-def]
    widget = HardwareView(Database())  # its worker thread starts with its first operation
    qtbot.addWidget(widget)
    widget.resize(1000, 700)
    widget.show()
    return widget


def test_an_absent_sensor_is_one_line_of_text_and_no_plot(view: HardwareView) -> None:
    for t in range(5):
        view._on_sample(_sample(1000.0 + t))
    assert view.note.text() == ("No GPU; power not readable on this computer — energy is "
                                "estimated.")
    assert view.note.isVisibleTo(view)
    assert "NVML Shared Library Not Found" in view.note.toolTip()  # the driver's words: a hover
    assert "NVML" not in view.note.text()
    titles = [p.title for p in view.findChildren(LivePlot)]
    assert view.gpu is None and view.power is None
    assert not any(t.startswith(("GPU", "Power")) for t in titles)
    assert len(titles) == 3  # CPU, memory, model speed


def test_a_gpu_and_power_get_their_plots_and_leave_the_note(view: HardwareView) -> None:
    gpu = GpuSample(index=0, name="RTX 4060", vendor="nvidia", utilization_percent=40.0,
                    vram_used_bytes=2 * 2**30, vram_total_bytes=8 * 2**30, power_watts=60.0)
    view._on_sample(_sample(10.0, gpus=(gpu,), watts=12.0,
                            unavailable={"battery": "no battery"}))
    assert view.gpu is not None and view.power is not None
    assert view.gpu in view.findChildren(LivePlot)
    assert view.gpu.latest(0) == 40.0 and view.gpu.latest(1) == pytest.approx(25.0)
    assert view.power.latest(0) == 12.0 and view.power.latest(1) == 60.0
    assert view.note.text() == "" and not view.note.isVisibleTo(view)


def test_cpu_is_lexbrief_vs_the_rest_on_0_to_100_and_memory_on_0_to_the_total(
        view: HardwareView) -> None:
    view._on_sample(_sample(5.0))
    assert view.cpu.top() == 100
    assert view.cpu.latest(0) == 55.0 and view.cpu.latest(1) == pytest.approx(25.0)
    assert view.cpu.title == "CPU, % of 2 cores"
    assert view.ram.top() == pytest.approx(24.0)
    assert view.ram.latest(0) == pytest.approx(6.0) and view.ram.latest(1) == pytest.approx(0.5)
    assert "LexBrief 55 %" in view.cpu.toolTip() and "others 25 %" in view.cpu.toolTip()


def test_model_speed_plots_reading_and_writing_apart(view: HardwareView) -> None:
    now = [200.0]
    meter = SpeedMeter(lambda: now[0])
    view.track(meter)
    meter.finished("a", Usage(prompt_tokens=400, completion_tokens=60, prompt_seconds=2.0,
                              generation_seconds=3.0))  # reading 195–197, writing 197–200
    view._on_sample(_sample(200.0))
    reading = dict(view.speed.series[0].points)
    writing = dict(view.speed.series[1].points)
    assert reading[196.0] == pytest.approx(200.0) and reading[197.0] == pytest.approx(200.0)
    assert writing[198.0] == pytest.approx(20.0) and writing[200.0] == pytest.approx(20.0)
    assert reading[199.0] == 0 and writing[196.0] == 0
    assert view.speed.top() == nice_top(220.0)


def test_documents_start_and_end_as_markers_on_every_plot(view: HardwareView) -> None:
    view._on_sample(_sample(50.0))
    view.mark("▶ lease.pdf", at=20.0)
    view.mark("■ done", at=45.0)
    for plot in view.plots():
        assert plot.markers == [(20.0, "▶ lease.pdf"), (45.0, "■ done")]


def test_axes_say_minutes_ago_and_units() -> None:
    assert [label for _ago, label in time_ticks(300)] == [
        "5 min ago", "4 min", "3 min", "2 min", "1 min", "now"]
    assert value_ticks(100) == [0, 25, 50, 75, 100]
    assert [nice_top(v) for v in (0.7, 3.2, 19, 2400)] == [1, 5, 20, 2500]


def test_a_plot_draws_its_line_inside_the_axes(qtbot) -> None:  # type: ignore[no-untyped-def]
    plot = LivePlot("CPU", "%", [("LexBrief", "#ff0000")], maximum=100)
    qtbot.addWidget(plot)
    plot.resize(600, 200)
    for t in range(0, 300, 5):
        plot.add(float(t), [50.0])
    image = plot.grab().toImage()
    red = [(x, y) for x in range(0, 600, 2) for y in range(200)
           if QColor(image.pixel(x, y)).red() > 200 and QColor(image.pixel(x, y)).green() < 60]
    assert red, "the series is not drawn"
    rows = {y for x, y in red if x > 300}  # the line, right of the legend
    assert max(rows) - min(rows) <= 4  # a flat 50 % line...
    assert 60 < sum(rows) / len(rows) < 150  # ...in the middle of the plot, not at its edge


def _lease_chart():  # type: ignore[no-untyped-def]
    """A lease's 40,000 + 2,000 tokens against the bundled pricing, GPT-4o chosen."""
    pricing = load_pricing(resource_dir() / "pricing.toml")
    comparison = compare_numbers(prompt_tokens=40_000, completion_tokens=2_000, energy_wh=2.0,
                                 energy_estimated=True, wall_seconds=95, pricing=pricing,
                                 price_per_kwh=0.30, currency="USD", cloud_model="gpt-4o")
    return chart_for_run(comparison, pricing, prompt_tokens=40_000, completion_tokens=2_000,
                         document="lease.pdf")


def test_the_cost_chart_highlights_the_chosen_model_and_explains_each_bar(qtbot) -> None:  # type: ignore[no-untyped-def]
    chart = _lease_chart()
    widget = CostChartView()
    qtbot.addWidget(widget)
    widget.resize(800, 300)
    widget.set_chart(chart)
    widget.show()
    widget.grab()  # paints, which lays out the bars
    chosen_row = next(i for i, b in enumerate(chart.bars) if b.chosen)
    centre = widget._rows[chosen_row].center()
    assert widget.detail_at(centre) == chart.bars[chosen_row].detail
    assert widget.detail_at(QPointF(5, widget._rows[0].center().y())) == chart.bars[0].detail
    assert chart.saving in widget.accessibleDescription()


def test_axis_labels_say_the_tick_values() -> None:
    from lexbrief.ui.gui.plot import axis_number

    # a 0-1 tok/s axis in quarters, a memory axis of 23.5 GiB in quarters, big counts grouped
    assert [axis_number(v) for v in value_ticks(1.0)] == ["0", "0.25", "0.5", "0.75", "1"]
    assert [axis_number(v) for v in value_ticks(23.5)] == ["0", "5.9", "11.8", "17.6", "23.5"]
    assert axis_number(1250.0) == "1,250"


def test_the_cost_chart_asks_for_room_for_every_bar_and_its_saving_line(qtbot) -> None:  # type: ignore[no-untyped-def]
    chart = _lease_chart()
    widget = CostChartView()
    qtbot.addWidget(widget)
    widget.set_chart(chart)
    # a layout cannot squeeze it below one row per bar plus the saving line
    assert widget.minimumHeight() >= widget.row_height() * (len(chart.bars) + 1)
