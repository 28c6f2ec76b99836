"""A small Web API client for one user of the emulated Dataverse, shared by the devstack tests."""

from __future__ import annotations

from typing import Any

import requests

ALICE = "alice@contoso.example"
ODATA = {"Accept": "application/json", "OData-Version": "4.0", "OData-MaxVersion": "4.0"}


class WebApi:
    """Requests to the emulated Web API with a Dataverse token for `user` (extra headers as keyword arguments)."""

    def __init__(self, stack: Any, user: str = ALICE) -> None:
        self.stack = stack
        self.api = stack.api
        self.headers = {**ODATA, "Authorization": f"Bearer {stack.token(user, audience='dataverse')}"}

    def call(self, method: str, path: str, body: Any = None, **headers: str) -> requests.Response:
        """Send one request; `If_Match="*"` sends `If-Match: *`."""
        merged = {**self.headers, **{k.replace("_", "-"): v for k, v in headers.items()}}
        return self.stack.http.request(method, self.api + path, json=body, headers=merged, timeout=10)

    def json(self, path: str) -> Any:
        """GET a path and answer its JSON body (asserting 200)."""
        response = self.call("GET", path)
        assert 200 == response.status_code, response.text
        return response.json()
