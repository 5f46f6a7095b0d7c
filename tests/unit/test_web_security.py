"""The dashboard's origin comparison (nexod.web.security)."""

from __future__ import annotations

from nexod.web.security import cross_origin_reason, normalise_origin


def test_normalise_origin() -> None:
    assert normalise_origin("HTTP://Example.COM:80/path?q") == "http://example.com"
    assert normalise_origin("https://example.com:443") == "https://example.com"
    assert normalise_origin("https://example.com:8443") == "https://example.com:8443"
    assert normalise_origin("http://[::1]:8000") == "http://[::1]:8000"
    for bad in ("null", "", "file:///etc/passwd", "javascript:alert(1)", "http://", "http://x:99999"):
        assert normalise_origin(bad) is None, bad


def _scope(headers: dict[str, str], scheme: str = "http") -> dict[str, object]:
    return {"type": "http", "scheme": scheme, "server": ("127.0.0.1", 8000),
            "headers": [(k.encode(), v.encode()) for k, v in headers.items()]}


def test_cross_origin_reason() -> None:
    cookie = {"cookie": "nexod_session=abc; theme=dark", "host": "127.0.0.1:8000"}
    assert cross_origin_reason(_scope({**cookie, "origin": "http://127.0.0.1:8000"})) is None
    assert cross_origin_reason(_scope({**cookie, "origin": "http://localhost:8000"})) is not None
    assert cross_origin_reason(_scope({**cookie, "origin": "http://127.0.0.1:8001"})) is not None
    assert cross_origin_reason(_scope({**cookie, "origin": "https://a.example"}),
                               trusted=["https://a.example"]) is None
    # Clerk's cookie counts as a browser credential too; other cookies do not.
    clerk = {"cookie": "__session=jwt", "host": "127.0.0.1:8000", "origin": "https://evil.example"}
    assert cross_origin_reason(_scope(clerk)) is not None
    assert cross_origin_reason(_scope({**clerk, "cookie": "theme=dark"})) is None
    assert cross_origin_reason(_scope({**clerk, "authorization": "Bearer x"})) is None
    # Behind a TLS-terminating proxy the server sees http, the browser says https: the host
    # and port decide.
    proxied = {"cookie": "nexod_session=a", "host": "nexod.example.com", "origin": "https://nexod.example.com"}
    assert cross_origin_reason(_scope(proxied)) is None
    assert cross_origin_reason(_scope({**proxied, "origin": "https://evil.nexod.example.com"})) is not None
