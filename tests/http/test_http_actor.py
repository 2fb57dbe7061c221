import httpx
import pytest
import trio

from autobot.http.actor import HttpActor
from autobot.http.metrics import Metric, Sample
from autobot.testing.logs import capture_logger, drain


def _metrics() -> list[Metric]:
    return [Metric(name="autobot_up", help="Up.", kind="gauge", samples=(Sample(value=1),))]


async def test_serves_healthz_and_metrics_then_stops_gracefully() -> None:
    logger, records = capture_logger()
    urls: list[str] = []
    actor = HttpActor(
        host="127.0.0.1", port=0, metrics=_metrics, logger=logger, on_listening=urls.append
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(actor.run)
        [url] = urls
        assert url.startswith("http://127.0.0.1:")
        async with httpx.AsyncClient(base_url=url) as client:
            health = await client.get("/healthz")
            assert (health.status_code, health.text) == (200, "ok\n")
            metrics = await client.get("/metrics")
            assert metrics.status_code == 200
            assert metrics.headers["content-type"].startswith("text/plain; version=0.0.4")
            assert "autobot_up 1\n" in metrics.text
            assert (await client.get("/nope")).status_code == 404
            post = await client.post("/healthz")
            assert (post.status_code, post.headers["allow"]) == (405, "GET, HEAD")
        actor.stopping.set()
    assert any(f"HTTP listening on {url}" == r.message for r in drain(records))


async def test_refuses_a_port_already_in_use() -> None:
    logger, _ = capture_logger()
    urls: list[str] = []
    first = HttpActor(
        host="127.0.0.1", port=0, metrics=_metrics, logger=logger, on_listening=urls.append
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(first.run)
        [url] = urls
        port = int(url.rsplit(":", 1)[1])
        second = HttpActor(host="127.0.0.1", port=port, metrics=_metrics, logger=logger)
        try:
            with pytest.raises(
                OSError, match=f"cannot listen on 127.0.0.1:{port}: Address already in use"
            ):
                await nursery.start(second.run)
        finally:
            first.stopping.set()
