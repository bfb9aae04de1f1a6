"""API test helpers: a Django test client that sends a bearer token for a given user."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from huitou.accounts.services import api_token_create


class ApiClient:
    """Calls /api/v1/ as one user, with a real token through the real auth path.

    Asks for English so tests compare with the source strings; one test checks the zh-Hans default.
    """

    def __init__(self, token: str | None, language: str | None = "en"):
        self.client = Client()
        self.headers = {"Accept-Language": language} if language else {}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"

    def _call(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        url = "/api/v1" + path
        fn = getattr(self.client, method)
        if method == "get":
            return fn(url, params, headers=self.headers)
        return fn(url, json.dumps(body or {}), content_type="application/json", headers=self.headers)

    def get(self, path: str, **params: Any) -> Any:
        return self._call("get", path, **params)

    def post(self, path: str, body: Any = None) -> Any:
        return self._call("post", path, body)

    def patch(self, path: str, body: Any = None) -> Any:
        return self._call("patch", path, body)

    def put(self, path: str, body: Any = None) -> Any:
        return self._call("put", path, body)


@pytest.fixture
def api_as():
    def make(user, language: str | None = "en") -> ApiClient:
        return ApiClient(api_token_create(user=user), language)

    return make
