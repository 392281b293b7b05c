"""The kube-apiserver's client keeps idle connections for up to 90 s and does not retry a POST that hits a
connection the server just closed. So an idle connection must still work after a minute.

Slow on purpose (61 s of idling, almost no CPU): marked `slow`; `-m "not slow"` skips it.
"""

from __future__ import annotations

import json
import time

import pytest

from tests.server.support import RunningServer, exchange, pod, review, tls_socket
from webhook.server import ServeSettings


def test_default_keepalive_outlasts_the_apiserver_idle_timeout() -> None:
    assert ServeSettings().keepalive_timeout > 90
    with pytest.raises(ValueError, match="greater than 90"):
        ServeSettings(keepalive_timeout=30)


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_idle_connection_is_reused_after_60_seconds(server: RunningServer) -> None:
    payload = json.dumps(review(pod("vault"))).encode()
    with tls_socket(server, timeout=30) as tls:
        local = tls.getsockname()
        status, headers, body = exchange(tls, "POST", "/mutate?timeout=10s", payload)
        assert status == 200 and headers.get("connection") != "close"
        time.sleep(61)
        status, _, body = exchange(tls, "POST", "/mutate?timeout=10s", payload)
        assert tls.getsockname() == local  # the very same TCP connection
    assert status == 200
    assert json.loads(body)["response"]["patch"]
