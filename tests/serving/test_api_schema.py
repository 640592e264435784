"""A bounded schemathesis run against the server's own OpenAPI schema: no request may get a 500."""

import schemathesis
from hypothesis import HealthCheck, given, settings


def test_no_server_errors(served):
    schema = schemathesis.openapi.from_asgi("/openapi.json", served[1])
    checked = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(max_examples=40, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def check(case):
            response = case.call()
            assert response.status_code < 500, (case.method, case.path, response.text)
            if response.status_code >= 400:
                assert "error" in response.json()  # every refusal says why
            checked.append(response.status_code)

        check()
    # Both kinds of answer were exercised: successes and refusals.
    assert any(code == 200 for code in checked) and any(code == 400 for code in checked)
