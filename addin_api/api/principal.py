"""`require_user`: validate the bearer token before a view runs and keep the principal on `g`."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar

from flask import g, request

from addin_api.auth.tokens import Principal
from addin_api.wiring import collaborators

P = ParamSpec("P")
R = TypeVar("R")


def require_user(view: Callable[P, R]) -> Callable[P, R]:
    """Reject the request unless it carries a valid add-in token; the principal is then `current_principal()`."""

    @wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        g.principal = collaborators().validator.validate(request.headers.get("Authorization"))
        return view(*args, **kwargs)

    return wrapper


def current_principal() -> Principal:
    """The authenticated caller of this request."""
    principal = g.get("principal")
    assert isinstance(principal, Principal), "view is missing @require_user"
    return principal
