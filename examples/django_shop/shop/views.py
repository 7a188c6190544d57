"""The shop's pages: products, Buy (a checkout session, then off to tillpoint), the
success page, the webhook receiver and the list of paid orders."""

from __future__ import annotations

import uuid
from functools import cache

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from shop.catalog import PRODUCTS
from shop.orders import OrderBook
from tillpoint.client import (
    SignatureVerificationError,
    TillpointClient,
    TillpointError,
    construct_event,
)


@cache
def tillpoint() -> TillpointClient:
    """One client (its connection pool) for the process; the key stays on the server."""
    return TillpointClient(settings.TILLPOINT_URL, settings.TILLPOINT_API_KEY)


@cache
def book() -> OrderBook:
    return OrderBook(settings.SHOP_ORDERS_DB)


@require_GET
def index(request: HttpRequest) -> HttpResponse:
    return render(request, "shop/index.html", {"products": PRODUCTS.values()})


@require_GET
def product(request: HttpRequest, slug: str) -> HttpResponse:
    if slug not in PRODUCTS:
        raise Http404(slug)
    return render(request, "shop/product.html", {"product": PRODUCTS[slug]})


@require_POST
def buy(request: HttpRequest, slug: str) -> HttpResponse:
    if slug not in PRODUCTS:
        raise Http404(slug)
    try:
        session = tillpoint().create_checkout_session(
            line_items=[PRODUCTS[slug].line_item()],
            success_url=f"{settings.SHOP_URL}/success?session_id={{CHECKOUT_SESSION_ID}}",
            cancel_url=f"{settings.SHOP_URL}/products/{slug}",
            client_reference_id=f"django-{uuid.uuid4().hex[:12]}",
            metadata={"shop": "django_shop", "product": slug},
        )
    except TillpointError as exc:  # e.g. sold out (422), or tillpoint unreachable
        context = {"product": PRODUCTS[slug], "error": exc.message}
        status = 503 if exc.status is None else 422
        return render(request, "shop/product.html", context, status=status)
    if session.url is None:  # never for a new session; no page to send the shopper to
        return HttpResponse("tillpoint gave no checkout page", status=502)
    return HttpResponseRedirect(session.url, status=303)


@require_GET
def success(request: HttpRequest) -> HttpResponse:
    session_id = request.GET.get("session_id")
    if not session_id:
        raise Http404("no checkout session given")
    try:
        session = tillpoint().get_checkout_session(session_id)
    except TillpointError as exc:
        if exc.status == 404:
            raise Http404("no such checkout session") from exc
        return HttpResponse("tillpoint is unreachable", status=502)
    return render(request, "shop/success.html", {"session": session})


@csrf_exempt  # tillpoint's signature, not a CSRF token, proves where it came from
@require_POST
def webhook(request: HttpRequest) -> HttpResponse:
    try:
        event = construct_event(
            request.body,
            request.headers.get("Tillpoint-Signature"),
            settings.TILLPOINT_WEBHOOK_SECRET,
        )
    except SignatureVerificationError:
        return HttpResponse("bad signature", status=400)
    if event.type == "checkout.session.completed":
        book().record(event)
    return HttpResponse("ok")


@require_GET
def orders(request: HttpRequest) -> HttpResponse:
    return render(request, "shop/orders.html", {"orders": book().all()})
