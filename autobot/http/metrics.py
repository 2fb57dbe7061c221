"""Prometheus text exposition (format 0.0.4) of plain metric values. Pure."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping

import attrs

_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


@attrs.frozen(kw_only=True)
class Sample:
    labels: Mapping[str, str] = attrs.field(factory=dict)
    value: float = 0.0


@attrs.frozen(kw_only=True)
class Metric:
    """One metric family: `kind` is "counter" or "gauge"."""

    name: str = attrs.field()
    help: str
    kind: str = attrs.field(validator=attrs.validators.in_(("counter", "gauge")))
    samples: tuple[Sample, ...] = ()

    @name.validator
    def _check_name(self, _attribute: object, value: str) -> None:
        if not _NAME.match(value):
            raise ValueError(f"invalid metric name {value!r}")


def _escape_label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _format_value(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(int(value)) if float(value).is_integer() else repr(float(value))


def _format_labels(labels: Mapping[str, str]) -> str:
    if not labels:
        return ""
    parts = []
    for key in sorted(labels):
        if not _LABEL.match(key):
            raise ValueError(f"invalid label name {key!r}")
        parts.append(f'{key}="{_escape_label_value(labels[key])}"')
    return "{" + ",".join(parts) + "}"


def render_prometheus(metrics: Iterable[Metric]) -> str:
    """Render metric families as Prometheus text, one HELP/TYPE header each."""
    lines: list[str] = []
    for metric in metrics:
        help_text = metric.help.replace("\\", "\\\\").replace("\n", "\\n")
        lines.append(f"# HELP {metric.name} {help_text}")
        lines.append(f"# TYPE {metric.name} {metric.kind}")
        for sample in metric.samples:
            labels = _format_labels(sample.labels)
            lines.append(f"{metric.name}{labels} {_format_value(sample.value)}")
    return "\n".join(lines) + "\n"
