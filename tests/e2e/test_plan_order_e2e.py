"""The planning calculator in Debian's Chromium against a real ``openlfr serve``: an answer that arrives late (the
calculation the page asks for when it opens, held back here until the operator's own calculation is shown) must
not replace the newer figures. On a busy machine the page's first answer came after the operator's inputs and
showed figures for the default inputs under them (a CI run: 4.5 expected true alerts instead of 50)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from tests.e2e.conftest import Server, login

pytestmark = [pytest.mark.e2e]


def test_a_late_answer_does_not_replace_newer_figures(server: Server, browser: Any) -> None:
    ctx, page = login(browser, server, "operator")
    held: list[Any] = []

    def hold_first(route: Any) -> None:
        if held:
            route.continue_()
        else:
            held.append(route)  # the page's own first calculation waits until released below

    page.route("**/api/evaluation/plan", hold_first)
    page.goto(server.url + "/evaluation")
    for _ in range(100):
        if held:
            break
        page.wait_for_timeout(50)
    assert held, "the page did not ask for a first calculation"
    form = page.locator("#plan-form")
    form.locator("input[name=faces]").fill("10000")
    form.locator("input[name=prevalence]").fill("0.01")
    form.locator("input[name=fpir]").fill("0.001")
    form.locator("input[name=tpir]").fill("0.5")
    form.locator("button[type=submit]").click()
    page.wait_for_function("document.getElementById('plan-out').textContent.includes('Expected true alerts')")

    def true_alerts() -> str:
        k = page.locator(".k", has_text=re.compile("^Expected true alerts$"))
        return str(page.locator("#plan-out .figure", has=k).locator(".v").inner_text())

    assert true_alerts() == "50.0"  # 10000 x 0.01 x 0.5
    with page.expect_response("**/api/evaluation/plan") as late:
        held[0].continue_()
    assert late.value.ok
    page.wait_for_timeout(300)  # the late answer's handler has run
    assert true_alerts() == "50.0"
    ctx.close()
