"""The answer page's views: GET shows it and changes nothing (mail scanners open every link); POST records.

A POST must carry the value of a page this browser opened: the page sets a random nonce in a ``SameSite=Strict``
cookie and puts a value bound to it and to the link's token in its form (``AnswerPages.form_token``). Another
site's form comes without the cookie, or without the value: refused 403, nothing recorded. A token that opens no
page (forged, revoked, another session's, a session over) is 404, with no hint of whose it was.
"""

from __future__ import annotations

import logging
import re
import secrets

from aiohttp import web

from domain.ports import Pages
from services.answer_pages import AnswerPages

log = logging.getLogger(__name__)

ANSWER_PAGES = web.AppKey("answer_pages", AnswerPages)
PAGES = web.AppKey("pages", Pages)
COOKIE = "plenary_form"
_TOKEN = re.compile(r"[A-Za-z0-9_.-]{30,300}")
_NONCE = re.compile(r"[A-Za-z0-9_-]{22,64}")
HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'",
}


def _html(body: str, status: int = 200) -> web.Response:
    return web.Response(text=body, status=status, content_type="text/html", charset="utf-8", headers=HEADERS)


def _language(request: web.Request) -> str:
    """For a page that names no delegate: the reader's browser's first language (the catalogues decide)."""
    first = request.headers.get("Accept-Language", "").split(",", 1)[0].split(";", 1)[0].strip()
    return first or "en"


async def show(request: web.Request) -> web.Response:
    """The delegate's page for the session; a nonce cookie for its form."""
    token = request.match_info["token"]
    pages, words = request.app[ANSWER_PAGES], request.app[PAGES]
    page = await pages.open(token) if _TOKEN.fullmatch(token) else None
    if page is None:
        return _html(words.missing(_language(request)), 404)
    nonce = request.cookies.get(COOKIE, "")
    if not _NONCE.fullmatch(nonce):
        nonce = secrets.token_urlsafe(24)
    response = _html(words.answer_page(page, pages.form_token(token, nonce)))
    secure = request.secure or pages.base_url.startswith("https://")  # TLS ended at a proxy in front of us
    response.set_cookie(COOKIE, nonce, path="/answer/", httponly=True, samesite="Strict", secure=secure, max_age=86400)
    return response


async def record(request: web.Request) -> web.Response:
    """Record the answer the form sent, then show the page with what became of it."""
    token = request.match_info["token"]
    pages, words = request.app[ANSWER_PAGES], request.app[PAGES]
    page = await pages.open(token) if _TOKEN.fullmatch(token) else None
    if page is None:
        return _html(words.missing(_language(request)), 404)
    form = await request.post()
    given, answer, substitute = (str(form.get(k, "")) for k in ("form", "answer", "substitute"))
    if not pages.form_valid(token, request.cookies.get(COOKIE, ""), given):
        log.warning("an answer form without this browser's page value was refused (a cross-site request?)")
        return _html(words.refused(_language(request)), 403)
    answered = await pages.answer(page, answer[:40], substitute[:200] or None)
    return _html(words.answer_page(answered, given))


def add_routes(app: web.Application, pages: AnswerPages, words: Pages) -> None:
    """Serve the answer pages under ``/answer/{token}``."""
    app[ANSWER_PAGES], app[PAGES] = pages, words
    app.router.add_get("/answer/{token}", show)
    app.router.add_post("/answer/{token}", record)
