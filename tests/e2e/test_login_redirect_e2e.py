"""Issue 18: the login page's ``next`` parameter never leaves this origin (real Chromium, real server)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from tests.e2e.conftest import Server, password

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    "target",
    [
        "/\\evil.example",
        "/\\/evil.example",
        "//evil.example",
        "/\t/evil.example",
        "https://evil.example/",
        "/%5Cevil.example",
    ],
)
def test_login_next_cannot_leave_the_origin(server: Server, browser: Any, target: str) -> None:
    ctx = browser.new_context(bypass_csp=True)
    page = ctx.new_page()
    page.goto(server.url + "/login?next=" + quote(target, safe=""))
    page.fill("input[name=username]", "operator")
    page.fill("input[name=password]", password("operator"))
    page.click("button[type=submit]")
    page.wait_for_url(lambda u: "/login" not in u, timeout=20_000)
    here = urlsplit(page.url)
    assert f"{here.scheme}://{here.netloc}" == server.url, page.url
    ctx.close()


def test_login_next_keeps_a_local_path(server: Server, browser: Any) -> None:
    ctx = browser.new_context(bypass_csp=True)
    page = ctx.new_page()
    page.goto(server.url + "/login?next=" + quote("/alerts?x=1", safe=""))
    page.fill("input[name=username]", "operator")
    page.fill("input[name=password]", password("operator"))
    page.click("button[type=submit]")
    page.wait_for_url(lambda u: "/login" not in u, timeout=20_000)
    assert page.url == server.url + "/alerts?x=1"
    ctx.close()
