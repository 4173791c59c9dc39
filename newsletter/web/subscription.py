"""Subscription pages: subscribe, confirm, unsubscribe (RFC 8058 one-click) and preferences.

Handlers parse the request, call one function of `newsletter.subscribers.consent`
and render a page. A GET never changes a subscription except the confirmation
link itself; a bad, expired or other-purpose token gets a 400 page and changes
nothing; no handler redirects anywhere, least of all to a URL from the request.
"""

from __future__ import annotations

import hmac
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import BaseRoute, Route

from newsletter.app import App
from newsletter.delivery import mime, smtp
from newsletter.errors import DeliveryError, InputError
from newsletter.models import Cadence, OutgoingMessage, Subscriber
from newsletter.subscribers import consent
from newsletter.tokens import Purpose
from newsletter.web.http import templates

log = logging.getLogger(__name__)

CSRF_COOKIE = "nl_csrf"
SIGNUPS_PER_WINDOW = 5
SIGNUP_WINDOW = timedelta(minutes=10)
REMEMBERED_CLIENTS = 10_000
PRIVATE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}

Handler = Callable[[Request], Awaitable[HTMLResponse]]


class RateLimiter:
    """At most `limit` attempts per client per window. Only the most recent `clients`
    clients are remembered, so a flood from many addresses cannot grow memory."""

    def __init__(
        self,
        clock: Callable[[], datetime],
        limit: int = SIGNUPS_PER_WINDOW,
        window: timedelta = SIGNUP_WINDOW,
        clients: int = REMEMBERED_CLIENTS,
    ) -> None:
        self._clock = clock
        self._limit = limit
        self._window = window
        self._clients = clients
        self._seen: OrderedDict[str, tuple[datetime, int]] = OrderedDict()

    def allow(self, client: str) -> bool:
        now = self._clock()
        start, count = self._seen.pop(client, (now, 0))
        if now - start >= self._window:
            start, count = now, 0
        self._seen[client] = (start, count + 1)
        while len(self._seen) > self._clients:
            self._seen.popitem(last=False)
        return count < self._limit


def _client(request: Request) -> str:
    return request.client.host if request.client else ""


def _string(form: FormData, key: str) -> str:
    value = form.get(key)
    return value if isinstance(value, str) else ""


def _strings(form: FormData, key: str) -> list[str]:
    return [value for value in form.getlist(key) if isinstance(value, str)]


class Pages:
    """The handlers, sharing the App, the template environment and the rate limiter."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.env = templates(app.settings, {"site": app.settings.site}).env
        self.limiter = RateLimiter(app.clock)

    def page(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        body = self.env.get_template(f"web/subscription/{template}.html").render(**context)
        return HTMLResponse(body, status_code=status, headers=PRIVATE)

    def problem(self, message: str, status: int = 400) -> HTMLResponse:
        return self.page("problem", status, problem=message)

    def lists_of(self, subscriber: Subscriber) -> list[Any]:
        return [item for item in self.app.settings.lists if item.name in subscriber.lists]

    def link(self, purpose: Purpose, subscriber: Subscriber) -> str:
        token = self.app.tokens().make(purpose, subscriber.id, subscriber.email)
        make = {
            Purpose.PREFERENCES: self.app.links.preferences,
            Purpose.UNSUBSCRIBE: self.app.links.unsubscribe,
            Purpose.CONFIRM: self.app.links.confirm,
        }[purpose]
        return make(token)

    def subscribe_form(self, status: int = 200, problem: str = "", **fields: Any) -> HTMLResponse:
        chosen = fields.pop("chosen", None) or [item.name for item in self.app.settings.lists]
        values = {"email": "", "name": ""} | fields
        lists = self.app.settings.lists
        return self.page("subscribe", status, problem=problem, lists=lists, chosen=chosen, **values)

    async def subscribe_page(self, request: Request) -> HTMLResponse:
        return self.subscribe_form()

    async def subscribe(self, request: Request) -> HTMLResponse:
        """Same answer for new, known and honeypot-caught addresses: no enumeration."""
        client = _client(request)
        if not self.limiter.allow(client):
            return self.problem("Too many sign-ups from your network; try again later.", 429)
        async with request.form(max_fields=50, max_files=0) as form:
            email, name, trap = (_string(form, key) for key in ("email", "name", "website"))
            lists = _strings(form, "lists")
        if trap:
            log.info("sign-up caught by the honeypot")
            return self.page("check_inbox")
        try:
            subscriber = await run_in_threadpool(
                consent.request, self.app, email, name, lists, client
            )
        except InputError as exc:
            return self.subscribe_form(400, exc.message, email=email, name=name, chosen=lists)
        if subscriber is not None:
            await run_in_threadpool(self.send_confirmation, subscriber)
        return self.page("check_inbox")

    def confirmation(self, subscriber: Subscriber) -> OutgoingMessage:
        """The confirmation request: a signed link that expires (tokens.MAX_AGE)."""
        settings = self.app.settings
        context = {
            "name": subscriber.name,
            "confirm_url": self.link(Purpose.CONFIRM, subscriber),
            "postal_address": settings.sender.postal_address,
        }
        text, html = (
            self.env.get_template(f"web/subscription/confirm_email.{kind}").render(context)
            for kind in ("txt", "html")
        )
        sender = settings.sender
        return mime.simple_message(
            mime.Address(sender.address, sender.name),
            mime.Address(subscriber.email, subscriber.name),
            f"Please confirm your subscription to {settings.site.title}",
            text,
            html,
            reply_to=mime.Address(sender.reply_to) if sender.reply_to else None,
            envelope_sender=sender.bounce_address,
            date=self.app.clock(),
        )

    def send_confirmation(self, subscriber: Subscriber) -> None:
        """A failed send is logged, not shown: the page must not reveal anything."""
        try:
            smtp.send_one(self.app.settings.smtp, self.confirmation(subscriber))
        except DeliveryError as exc:
            log.warning("confirmation to subscriber %s not sent: %s", subscriber.id, exc)
        else:
            log.info("confirmation sent to subscriber %s", subscriber.id)

    async def confirm(self, request: Request) -> HTMLResponse:
        token = request.path_params["token"]
        subscriber = await run_in_threadpool(consent.confirm, self.app, token, _client(request))
        log.info("subscriber %s confirmed", subscriber.id)
        return self.page(
            "confirmed",
            subscriber=subscriber,
            lists=self.lists_of(subscriber),
            preferences_url=self.link(Purpose.PREFERENCES, subscriber),
        )

    async def unsubscribe_page(self, request: Request) -> HTMLResponse:
        token = request.path_params["token"]
        subscriber = await run_in_threadpool(
            consent.subscriber_for, self.app, Purpose.UNSUBSCRIBE, token
        )
        return self.page(
            "unsubscribe",
            subscriber=subscriber,
            preferences_url=self.link(Purpose.PREFERENCES, subscriber),
        )

    async def unsubscribe(self, request: Request) -> HTMLResponse:
        """RFC 8058: any POST to the link unsubscribes at once, whatever its body."""
        token = request.path_params["token"]
        subscriber = await run_in_threadpool(consent.unsubscribe, self.app, token)
        if subscriber is not None:
            log.info("subscriber %s unsubscribed", subscriber.id)
        return self.page("unsubscribed", subscriber=subscriber)

    def preferences_page(
        self, subscriber: Subscriber, *, saved: bool, secure: bool
    ) -> HTMLResponse:
        csrf = self.app.tokens().make(Purpose.CSRF, subscriber.id, subscriber.email)
        response = self.page(
            "preferences",
            subscriber=subscriber,
            saved=saved,
            csrf=csrf,
            lists=self.app.settings.lists,
            cadences=list(Cadence),
            topics=consent.known_topics(self.app.settings),
            unsubscribe_url=self.link(Purpose.UNSUBSCRIBE, subscriber),
        )
        response.set_cookie(
            CSRF_COOKIE, csrf, path="/preferences", secure=secure, httponly=True, samesite="strict"
        )
        return response

    async def preferences(self, request: Request) -> HTMLResponse:
        token = request.path_params["token"]
        subscriber = await run_in_threadpool(
            consent.subscriber_for, self.app, Purpose.PREFERENCES, token
        )
        secure = request.url.scheme == "https"
        return self.preferences_page(subscriber, saved=False, secure=secure)

    def check_csrf(self, request: Request, form: FormData, subscriber: Subscriber) -> None:
        """Double submit: the form's token equals the cookie's, and it is ours for this person."""
        sent, cookie = form.get("csrf"), request.cookies.get(CSRF_COOKIE, "")
        if not (isinstance(sent, str) and sent and hmac.compare_digest(sent, cookie)):
            raise InputError("this form has expired or came from another page", where="csrf")
        tokens = self.app.tokens()
        subscriber_id, prefix = tokens.read(Purpose.CSRF, sent)
        if subscriber_id != subscriber.id or not tokens.matches(subscriber.email, prefix):
            raise InputError("this form belongs to someone else", where="csrf")

    async def save_preferences(self, request: Request) -> HTMLResponse:
        token = request.path_params["token"]
        subscriber = await run_in_threadpool(
            consent.subscriber_for, self.app, Purpose.PREFERENCES, token
        )
        async with request.form(max_fields=100, max_files=0) as form:
            self.check_csrf(request, form, subscriber)
            saved = await run_in_threadpool(
                consent.save_preferences,
                self.app,
                subscriber,
                _strings(form, "lists"),
                _string(form, "cadence"),
                _strings(form, "topics"),
            )
        return self.preferences_page(saved, saved=True, secure=request.url.scheme == "https")


def _guarded(pages: Pages, handler: Handler) -> Handler:
    """Bad outside input (token, form field) becomes a 400 page naming the problem."""

    async def endpoint(request: Request) -> HTMLResponse:
        try:
            return await handler(request)
        except InputError as exc:
            log.info("rejected %s %s: %s", request.method, request.url.path.split("/")[1], exc)
            return pages.problem(exc.message)

    return endpoint


def routes(app: App) -> list[BaseRoute]:
    """The subscription routes, for the web app to mount at its root."""
    pages = Pages(app)
    table: list[tuple[str, Handler, str]] = [
        ("/subscribe", pages.subscribe_page, "GET"),
        ("/subscribe", pages.subscribe, "POST"),
        ("/confirm/{token}", pages.confirm, "GET"),
        ("/u/{token}", pages.unsubscribe_page, "GET"),
        ("/u/{token}", pages.unsubscribe, "POST"),
        ("/preferences/{token}", pages.preferences, "GET"),
        ("/preferences/{token}", pages.save_preferences, "POST"),
    ]
    return [
        Route(path, _guarded(pages, handler), methods=[method]) for path, handler, method in table
    ]
