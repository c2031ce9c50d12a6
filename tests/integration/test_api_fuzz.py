"""Property-based fuzzing of the HTTP API from its own OpenAPI schema (schemathesis): no input the
schema allows, and none it does not, makes the server answer 5xx. Bounded to a few examples per
operation so the run stays short."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from tests.conftest import TEST_DATA
from tests.integration.apihelp import ApiEnv, make_env, seed_live_deployment

schemathesis = pytest.importorskip("schemathesis")
hypothesis = pytest.importorskip("hypothesis")

MAX_EXAMPLES = 8
SKIP = {"/api/events", "/api/cameras/{deployment_id}/{camera}/preview.mjpg"}


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiEnv]:
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("OPENLFR_KEY", raising=False)
        mp.delenv("OPENLFR_DATABASE_URL", raising=False)
        e = make_env(tmp_path_factory.mktemp("fuzz") / "data")
        e.extra.update(seed_live_deployment(e, TEST_DATA / "faces", ["Al_Gore"]))
        yield e
        e.client.close()


def test_no_5xx_under_fuzzing(env: ApiEnv) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    schema = schemathesis.openapi.from_asgi("/openapi.json", env.app, headers=env.h("auditor"))  # needs a login
    ops = [r.ok() for r in schema.get_all_operations()]
    assert len(ops) > 40
    failures: list[str] = []
    calls = {"n": 0}
    # user edits last: the fuzzer may deactivate or demote the calling admin
    ops.sort(key=lambda o: o.path.startswith("/api/users/{"))

    def fuzz(op: Any, headers: dict[str, str], mode: Any) -> None:
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=op.as_strategy(mode), authed=st.booleans())
        def run(case: Any, authed: bool) -> None:
            resp = case.call(headers=headers if authed else {})
            calls["n"] += 1
            if resp.status_code >= 500:
                failures.append(
                    f"{op.method.upper()} {op.path} -> {resp.status_code}: {resp.text[:300]} "
                    f"(case: path={case.path_parameters} query={case.query} body={str(case.body)[:200]})"
                )

        run()

    for op in ops:
        if op.path in SKIP:
            continue
        for mode in schemathesis.GenerationMode:  # valid inputs, then inputs the schema forbids
            try:
                fuzz(op, env.h("admin" if op.path.startswith("/api/users") else "supervisor"), mode)
            except hypothesis.errors.Unsatisfiable:
                pass  # e.g. no negative case exists for an operation without parameters
    assert calls["n"] > 300
    assert not failures, "\n".join(failures[:20])
