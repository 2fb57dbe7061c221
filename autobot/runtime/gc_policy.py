"""Garbage-collector settings while a gateway serves (process-wide).

CPython's cyclic collector scans every tracked object in a full collection,
and with the default thresholds (700, 10, 10) a burst of new sessions (each
agent actor keeps ~120 tracked objects: tasks, cancel scopes, channels) set
off full collections of the whole heap, ~180k objects of which are imported
modules and start-up state that never become garbage: 250-300 ms pauses of
the event loop, during which no worker thread runs either (the collector
holds the GIL). Measured with bench_agent: 2 full collections and ~0.5 s of
collector time in a round of 1,000 new sessions.

`serving_gc` applies, for as long as it is entered:
- `gc.freeze()`: everything alive when serving starts moves to the permanent
  generation, which collections never scan;
- a young-generation threshold of `SERVING_YOUNG_THRESHOLD` allocations
  instead of 700: short-lived objects of a turn die before they are promoted,
  and full collections (still triggered by CPython's own rule, when the old
  generation has grown by a quarter) come ~14 times less often.
Cyclic garbage still gets collected; it only lives a little longer. On exit
the previous thresholds are restored and the frozen objects unfrozen, so a
test process running many gateways keeps collecting them.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

# Net new container objects between young-generation collections (CPython's
# default is 700). A turn allocates a few hundred; 10,000 keeps a collection
# of the youngest generation around a millisecond.
SERVING_YOUNG_THRESHOLD = 10_000


@contextmanager
def serving_gc() -> Iterator[None]:
    """Freeze the start-up heap and raise the young threshold until exit."""
    young, middle, old = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(SERVING_YOUNG_THRESHOLD, middle, old)
    try:
        yield
    finally:
        gc.set_threshold(young, middle, old)
        gc.unfreeze()
