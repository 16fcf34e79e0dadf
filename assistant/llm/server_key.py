"""The inference server's API key: kept in the system keyring, never in settings.json.

Keyed by the server's address, so two servers keep two keys. Where the system has no keyring
(a bare Linux without a Secret Service, a headless machine) the key comes from the
environment variable ASSISTANT_ANSWER_KEY instead, which also overrides a stored key for one
command.
"""

from __future__ import annotations

import contextlib
import os

from assistant.errors import UserError

SERVICE = "Knowledge Assistant inference server"
ENV_KEY = "ASSISTANT_ANSWER_KEY"


def _account(url: str) -> str:
    return url.strip().rstrip("/").removesuffix("/v1")


def load_key(url: str) -> str | None:
    """The key for the server at `url`: the environment's, else the keyring's, else None."""
    env = os.environ.get(ENV_KEY, "").strip()
    if env:
        return env
    if not url.strip():
        return None
    try:
        import keyring
        from keyring.errors import KeyringError

        try:
            return keyring.get_password(SERVICE, _account(url)) or None
        except KeyringError:
            return None
    except Exception:  # no keyring package, or a backend that fails to load
        return None


def save_key(url: str, key: str) -> None:
    """Store (or, with an empty key, remove) the key; UserError where no keyring works."""
    try:
        import keyring
    except ImportError:
        if not key:
            return
        raise UserError(_no_keyring()) from None
    account = _account(url)
    if not key:
        with contextlib.suppress(Exception):  # none was saved, or there is no keyring
            keyring.delete_password(SERVICE, account)
        return
    try:
        keyring.set_password(SERVICE, account, key)
    except Exception:  # keyring.errors.KeyringError, or a backend that fails to load
        raise UserError(_no_keyring()) from None


def _no_keyring() -> str:
    return ("This system has no keyring to keep the API key in; set the environment variable "
            f"{ENV_KEY} to the key before starting the app instead.")
