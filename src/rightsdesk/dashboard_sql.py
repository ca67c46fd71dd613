"""A Datasette plugin: the admin may run the dashboard's own SQL, and no other.

datasette-dashboards draws each chart in the browser from ``/<db>.json?sql=<the chart's
query>``, so it needs Datasette's ``execute-sql`` permission. Granting that outright would
let an admin type ``select text from queries`` and read single questions, which the saved
queries in deploy/datasette/metadata.yml exist to prevent. So this plugin grants
``execute-sql`` to the actor the instance's ``allow`` block admits, and refuses with 403
every request whose ``sql`` is not, character for character, a query of a chart configured
under ``plugins: datasette-dashboards`` for that database. The k-anonymity lives in those
queries (each keeps only groups with 3 or more distinct askers); this plugin makes them the
only SQL there is.

It fails closed: metadata.yml keeps ``allow_sql: false``, so without this plugin installed
(``pip install -e '.[admin]'`` registers it) the dashboard is refused rather than opened up.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, TypeVar
from urllib.parse import parse_qs, unquote

from datasette import hookimpl
from datasette.utils import actor_matches_allow

__all__ = ["allowed_sql"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

_Hook = TypeVar("_Hook", bound=Callable[..., Any])
# datasette ships no type information; naming the marker's type keeps mypy --strict from
# calling every decorated hook untyped.
_hookimpl: Callable[[_Hook], _Hook] = hookimpl

_REFUSED = b"403 Forbidden: only the dashboard's own queries run here\n"


def allowed_sql(dashboards: object) -> frozenset[tuple[str, str]]:
    """The (database, sql) pairs of every chart in a datasette-dashboards configuration."""
    pairs: set[tuple[str, str]] = set()
    if not isinstance(dashboards, dict):
        return frozenset()
    for dashboard in dashboards.values():
        charts = dashboard.get("charts", {}) if isinstance(dashboard, dict) else {}
        for chart in charts.values():
            db, sql = chart.get("db"), chart.get("query")
            if isinstance(db, str) and isinstance(sql, str):
                pairs.add((db, sql))
    return frozenset(pairs)


def _refuse_other_sql(app: App, allowed: frozenset[tuple[str, str]]) -> App:
    async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"), True)
            sql = query.get("sql")
            if sql is not None:
                # Only the JSON endpoint the charts fetch, one sql value, and a chart's own:
                # `sql=chart&sql=mine` or the HTML editor at /<db>?sql= are refused alike.
                path = unquote(scope.get("path", ""))
                db = path[1:].removesuffix(".json") if path.endswith(".json") else None
                if len(sql) != 1 or db is None or (db, sql[0]) not in allowed:
                    await send(
                        {
                            "type": "http.response.start",
                            "status": 403,
                            "headers": [(b"content-type", b"text/plain; charset=utf-8")],
                        }
                    )
                    await send({"type": "http.response.body", "body": _REFUSED})
                    return
        await app(scope, receive, send)

    return guarded


@_hookimpl
def asgi_wrapper(datasette: Any) -> Callable[[App], App]:
    allowed = allowed_sql(datasette.plugin_config("datasette-dashboards"))
    return lambda app: _refuse_other_sql(app, allowed)


@_hookimpl
def permission_allowed(
    datasette: Any, actor: dict[str, Any] | None, action: str, resource: object
) -> bool | None:
    if action != "execute-sql" or actor is None:
        return None
    dashboards = allowed_sql(datasette.plugin_config("datasette-dashboards"))
    if resource not in {db for db, _ in dashboards}:
        return None
    # Whoever may see the instance at all (metadata.yml: the actor "admin") may run the
    # charts' queries; the wrapper above makes sure those are the only ones.
    allow = datasette.metadata("allow")
    return True if allow is not None and actor_matches_allow(actor, allow) else None
