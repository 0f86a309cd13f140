"""Summaries on a server the firm runs (llama-server or vLLM), chosen by `--server URL` or the
`[server]` table of settings.toml. What is stored of it: the URL without credentials, the served
model's name and its fingerprint (`lexbrief.engine.server.engine._fingerprint`), never the key.

A queue job names its model; a server job's model is `server:<url>`, so a batch resumed later
goes back to the same server (with the key read again from the environment)."""

from __future__ import annotations

import os

from lexbrief.engine.server.client import ServerConfig, public_url
from lexbrief.errors import ModelError
from lexbrief.settings import load_settings

SERVER_SPEC = "server:"


def is_server_spec(model: str | None) -> bool:
    return bool(model) and str(model).startswith(SERVER_SPEC)


def server_spec(url: str) -> str:
    return SERVER_SPEC + public_url(url)


def server_config(url: str | None = None, *, api_key_env: str | None = None) -> ServerConfig | None:
    """The server to summarize on: `url` (a `server:` spec or an address) over the settings'
    [server] url; None when neither names one. The key is read from the environment variable
    that `api_key_env` (or the settings) names; a named variable that is unset is an error, not
    a silent run without a key."""
    settings = load_settings().server
    address = (url or "").removeprefix(SERVER_SPEC) or settings.url
    if not address:
        return None
    variable = api_key_env if api_key_env is not None else settings.api_key_env
    key = None
    if variable:
        key = os.environ.get(variable)
        if not key:
            raise ModelError(f"the server's API key is read from the environment variable "
                             f"{variable}, which is not set")
    return ServerConfig(url=address, api_key=key, ca_bundle=settings.ca_bundle,
                        timeout_s=settings.timeout_s, max_parallel=max(1, settings.max_parallel))
