import math

import pytest

from autobot.http.metrics import Metric, Sample, render_prometheus


def test_renders_help_type_and_samples_with_sorted_escaped_labels() -> None:
    text = render_prometheus(
        [
            Metric(
                name="autobot_child_restarts_total",
                help="Restarts per child.\nSecond line",
                kind="counter",
                samples=(
                    Sample(labels={"supervisor": "root", "child": 'log"actor\\'}, value=3),
                    Sample(labels={}, value=0.5),
                ),
            ),
            Metric(
                name="autobot_up", help="1 while running.", kind="gauge", samples=(Sample(value=1),)
            ),
        ]
    )
    assert text == (
        "# HELP autobot_child_restarts_total Restarts per child.\\nSecond line\n"
        "# TYPE autobot_child_restarts_total counter\n"
        'autobot_child_restarts_total{child="log\\"actor\\\\",supervisor="root"} 3\n'
        "autobot_child_restarts_total 0.5\n"
        "# HELP autobot_up 1 while running.\n"
        "# TYPE autobot_up gauge\n"
        "autobot_up 1\n"
    )


def test_special_float_values() -> None:
    samples = (Sample(value=math.nan), Sample(value=math.inf), Sample(value=-math.inf))
    text = render_prometheus([Metric(name="m", help="h", kind="gauge", samples=samples)])
    assert text.splitlines()[2:] == ["m NaN", "m +Inf", "m -Inf"]


@pytest.mark.parametrize("name", ["", "1abc", "has space", "dash-name"])
def test_rejects_invalid_metric_names(name: str) -> None:
    with pytest.raises(ValueError, match="invalid metric name"):
        Metric(name=name, help="h", kind="gauge")


def test_rejects_invalid_label_names_and_kinds() -> None:
    with pytest.raises(ValueError, match="invalid label name"):
        render_prometheus(
            [Metric(name="m", help="h", kind="gauge", samples=(Sample(labels={"a-b": "x"}),))]
        )
    with pytest.raises(ValueError):
        Metric(name="m", help="h", kind="histogram")
