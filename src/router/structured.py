"""The answer to a `response_format` pydantic model, parsed from the reply's text."""

from __future__ import annotations

from pydantic import ValidationError

from router.candidates import Candidate
from router.errors import ResponseError
from router.money import callers_context
from router.types import Completion, Request

__all__ = ["parse_answer"]


def parse_answer(request: Request, candidate: Candidate, completion: Completion) -> object:
    """The `response_format` model built from `completion`'s text (`None` without one, or for a
    tool call); an answer that does not match it is a `ResponseError` naming the model."""
    fmt = request.response_format
    if fmt is None or fmt.model is None or completion.tool_calls:
        return None
    try:
        with callers_context():  # the app's model: its validators, its decimal context
            return fmt.model.model_validate_json(completion.text)
    except ValidationError as exc:
        raise ResponseError(
            f"the answer does not match {fmt.model.__name__} "
            f"(finish reason {completion.finish_reason.value}): {exc.errors()[0]['msg']}",
            provider=candidate.target.provider, deployment=candidate.deployment,
            request_id=completion.request_id,
        ) from exc
