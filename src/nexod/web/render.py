"""Jinja2 rendering for the dashboard: one auto-escaping environment and a few filters.

Every template is HTML and every value is escaped (``autoescape=True`` for all of them, not
only ``.html`` names); nothing in the templates is marked ``|safe``. Graph state and other
JSON is shown with :func:`pretty`, as text.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
import orjson
from fastapi.responses import HTMLResponse

from nexod import __version__

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
STATUSES = ("pending", "running", "success", "interrupted", "error", "timeout")


def pretty(value: Any) -> str:
    """JSON, indented, for a ``<pre>`` (escaped by the template like any other text)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        return repr(value)


def when(value: Any) -> str:
    """An ISO timestamp as ``YYYY-MM-DD HH:MM:SS UTC`` (other values as they are)."""
    if not value:
        return ""
    try:
        dt = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if dt.tzinfo is not None:
        dt = dt.astimezone(UTC)
    return dt.strftime("%Y-%m-%d %H:%M:%S UTC")


def short(value: Any, n: int = 8) -> str:
    """The first ``n`` characters of an id."""
    return str(value or "")[:n]


def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, undefined=jinja2.ChainableUndefined,
        trim_blocks=True, lstrip_blocks=True,
    )
    env.filters.update(pretty=pretty, when=when, short=short)
    env.globals.update(version=__version__, statuses=STATUSES)
    return env


ENV = _env()


def render(template: str, *, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render ``template`` with ``context`` into a no-store HTML response."""
    html = ENV.get_template(template).render(**context)
    return HTMLResponse(html, status_code=status_code, headers={"Cache-Control": "no-store"})
