"""Secrets out of anything printed or logged: the one redaction function every printer and logger uses.

Pure (no I/O). It hides, wherever they appear in a string:

- the password of a URL's user info: ``postgresql://user:pw@host`` and ``redis://:pw@host`` (user kept);
- the value of a secret-looking URL query parameter: ``?password=…``, ``&sslpassword=…``, ``?token=…``,
  ``?api_key=…``, ``?secret=…``, ``?sig=…`` ... (:func:`is_secret_name` says which names);
- the value of a secret-looking libpq conninfo keyword, quoted or not: ``password=pw``,
  ``password = 'p w\\'s'``.

Over-redacting a harmless value in a message costs nothing; printing a password in ``docker inspect`` does.
"""

from __future__ import annotations

import re

MASK = "***"

# a name is secret when it contains one of these (case and - / _ ignored) ...
_SECRET_PARTS = ("password", "passwd", "passphrase", "secret", "token", "apikey", "accesskey", "privatekey",
                 "credential", "signature", "sessionid")
# ... or is one of these exactly
_SECRET_NAMES = frozenset({"pass", "pwd", "pw", "key", "sig", "auth", "authorization", "session", "code"})

# user info of any scheme://: the password runs to the last "@" before the authority ends
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/?#@\s]*:)(?P<secret>[^/?#\s]*)@")
# name=value in a URL query (after ? & or ;): the value runs to the next & # or blank
_QUERY_PARAM = re.compile(r"(?P<head>[?&;](?P<name>[^=&#?;\s]+)=)(?P<secret>[^&#\s]*)")
# keyword = value in libpq conninfo (or any "key=value" text): a quoted value with \' and \\ escapes, or a bare
# value up to the next blank
_KEYWORD = re.compile(r"(?P<head>(?<![^\s'\"(,{\[])(?P<name>[A-Za-z_][\w.-]*)\s*=\s*)"
                      r"(?P<secret>'(?:[^'\\]|\\.)*'?|(?:\\.|[^\s\\])+)")


def is_secret_name(name: str) -> bool:
    """Whether a parameter, keyword or field called ``name`` holds a secret."""
    n = name.lower().replace("-", "").replace("_", "").replace(".", "")
    return n in _SECRET_NAMES or any(part in n for part in _SECRET_PARTS)


def _named(m: re.Match[str]) -> str:
    return m["head"] + MASK if is_secret_name(m["name"]) else m[0]


def redact(value: str) -> str:
    """``value`` with every URL password, secret query parameter and secret conninfo value replaced by ***."""
    if "@" not in value and "=" not in value:
        return value
    if "://" in value:
        value = _URL_PASSWORD.sub(lambda m: m["head"] + MASK + "@", value)
    value = _QUERY_PARAM.sub(_named, value)
    return _KEYWORD.sub(_named, value)


def first_line(exc: BaseException) -> str:
    """An exception's first line, redacted (it may quote a URL or conninfo); its type's name when it has none."""
    text = str(exc).strip()
    return redact(text.splitlines()[0]) if text else type(exc).__name__
