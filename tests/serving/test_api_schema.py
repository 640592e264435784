"""Bounded schemathesis runs against the server's own OpenAPI schema.

No request may get a 500; every refusal is a 4xx with a JSON `error`;
answers match the schema (status codes, content types, bodies); invalid
input (negative generation) is refused; and the schema's links hold up in a
short stateful run (status -> version status / metadata / predict, metadata
-> predict, search -> version status).
"""

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import checks
from schemathesis.generation import GenerationMode

# The built-in checks that hold for this API. `positive_data_acceptance` is
# left out: the schema cannot say everything the server checks (`max_k` of
# the version served, exactly one of `instances` / `inputs`, whitespace-only
# queries), so some schema-valid bodies are rightly refused.
CHECKS = [checks.not_a_server_error, checks.status_code_conformance, checks.content_type_conformance,
          checks.response_schema_conformance]
SETTINGS = dict(deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck),
                phases=[Phase.explicit, Phase.generate])


def assert_refusal_says_why(case, response):
    assert response.status_code < 500, (case.method, case.formatted_path, response.text)
    if response.status_code >= 400:
        assert response.status_code < 500 and "error" in response.json(), (case.method, case.formatted_path,
                                                                           response.status_code, response.text)


def run_every_operation(app, mode, max_examples, extra_checks=()):
    """`[(operation label, status code)]` of a bounded run of every operation in `mode`."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    answered = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=max_examples, **SETTINGS)
        def check(case):
            response = case.call()
            case.validate_response(response, checks=CHECKS + list(extra_checks))
            assert_refusal_says_why(case, response)
            answered.append((operation.label, response.status_code))

        check()
    return answered


def test_no_server_errors(served):
    answered = run_every_operation(served[1], GenerationMode.POSITIVE, max_examples=25)
    codes = {code for _, code in answered}
    # Both kinds of answer were exercised: successes and refusals.
    assert 200 in codes and 400 in codes, answered
    assert {label for label, code in answered if code == 200} >= {"GET /search", "GET /v1/models/{model}"}


def test_invalid_input_is_refused_with_a_message(served):
    # Negative generation: data that breaks the schema must be refused (4xx, never 2xx or 5xx) with an `error`.
    answered = run_every_operation(served[1], GenerationMode.NEGATIVE, max_examples=15,
                                   extra_checks=[checks.negative_data_rejection])
    assert answered and all(400 <= code < 500 for _, code in answered if code != 200), answered
    assert {label for label, _ in answered} >= {"POST /v1/models/{model}:predict", "GET /search"}


def test_links_hold_in_a_stateful_run(served):
    paths = served[0].get("/openapi.json").json()["paths"]
    assert set(paths["/v1/models/{model}"]["get"]["responses"]["200"]["links"]) == {
        "version_status", "version_metadata", "version_predict"}
    schema = schemathesis.openapi.from_asgi("/openapi.json", served[1])
    steps = []

    class Links(schema.as_state_machine()):
        def validate_response(self, response, case, additional_checks=None, **kwargs):
            case.validate_response(response, checks=CHECKS, transport_kwargs=kwargs or None)
            assert_refusal_says_why(case, response)
            steps.append((case.operation.label, response.status_code))

    Links.run(settings=settings(max_examples=15, stateful_step_count=5, **SETTINGS))
    # Scenarios start at search and the predicts (schemathesis's roots); the
    # other operations are reached only through links.
    roots = {"GET /search", "POST /v1/models/{model}:predict", "POST /v1/models/{model}/versions/{version}:predict"}
    followed = [(label, code) for label, code in steps if label not in roots]
    assert followed, f"no link was followed; check the links in the OpenAPI schema: {steps}"
    assert any(code == 200 for _, code in followed), f"no linked operation succeeded: {followed}"
