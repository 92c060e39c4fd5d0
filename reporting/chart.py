"""The trend chart's geometry, drawn on the server as SVG (no script, no network): plain numbers
in, coordinates out; the template writes the elements and reporting/static styles them."""

from dataclasses import dataclass

WIDTH, HEIGHT = 760, 240
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 12, 28  # room for the axis labels


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    value: int
    index: int  # which day, for the caller's label and link


@dataclass(frozen=True)
class Line:
    name: str
    label: str
    points: list[Point]

    @property
    def path(self) -> str:
        return " ".join(f"{p.x:.1f},{p.y:.1f}" for p in self.points)


@dataclass(frozen=True)
class Tick:
    position: float
    label: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    left: int
    right: int  # x of the plot's right edge
    top: int
    bottom: int  # y of the plot's bottom edge
    lines: list[Line]
    y_ticks: list[Tick]
    x_ticks: list[Tick]


def nice_ceiling(value: int) -> int:
    """The smallest 1, 2, 2.5 or 5 × 10ⁿ at or above ``value``: round gridline labels."""
    if value <= 4:
        return 4
    magnitude = 10 ** (len(str(value)) - 1)
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return int(step * magnitude)
    return 10 * magnitude


def line_chart(series: list[tuple[str, str, list[int]]], x_labels: list[str]) -> Chart:
    """``series``: (name, label, one value per x label)."""
    count = len(x_labels)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    top_value = nice_ceiling(max((v for _, _, values in series for v in values), default=0))

    def x(i: int) -> float:
        return LEFT + (plot_w * i / (count - 1) if count > 1 else plot_w / 2)

    def y(value: int) -> float:
        return TOP + plot_h * (1 - value / top_value)

    lines = [
        Line(name, label, [Point(x(i), y(v), v, i) for i, v in enumerate(values)])
        for name, label, values in series
    ]
    y_ticks = [Tick(y(top_value * k / 4), f"{top_value * k / 4:g}") for k in range(5)]
    every = max(1, round(count / 10))  # at most about ten dates under the axis
    x_ticks = [
        Tick(x(i), label) for i, label in enumerate(x_labels) if (count - 1 - i) % every == 0
    ]
    return Chart(WIDTH, HEIGHT, LEFT, WIDTH - RIGHT, TOP, HEIGHT - BOTTOM, lines, y_ticks, x_ticks)
