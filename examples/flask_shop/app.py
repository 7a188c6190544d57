"""A minimal Flask shop that takes payment through tillpoint's hosted checkout.

Run it: ``flask --app examples/flask_shop/app.py run --port 5001`` (README.md)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from flask import Flask, Response, abort, redirect, render_template, request
from werkzeug.wrappers import Response as BaseResponse

from tillpoint.client import (
    SignatureVerificationError,
    TillpointClient,
    TillpointError,
    construct_event,
)

from .catalog import PRODUCTS, money
from .orders import OrderBook


def create_app() -> Flask:
    """The shop, configured from the environment (TILLPOINT_URL, TILLPOINT_API_KEY,
    TILLPOINT_WEBHOOK_SECRET, SHOP_URL, SHOP_ORDERS_DB)."""
    app = Flask(__name__)
    shop_url = os.environ.get("SHOP_URL", "http://127.0.0.1:5001").rstrip("/")
    tillpoint = TillpointClient(
        os.environ.get("TILLPOINT_URL", "http://127.0.0.1:8000"), os.environ["TILLPOINT_API_KEY"]
    )
    secret = os.environ["TILLPOINT_WEBHOOK_SECRET"]
    book = OrderBook(Path(os.environ.get("SHOP_ORDERS_DB", Path(__file__).parent / "orders.db")))
    app.jinja_env.filters["money"] = money

    @app.get("/")
    def index() -> str:
        return render_template("index.html", products=PRODUCTS.values())

    @app.get("/products/<slug>")
    def product(slug: str) -> str:
        if slug not in PRODUCTS:
            abort(404)
        return render_template("product.html", product=PRODUCTS[slug])

    @app.post("/products/<slug>/buy")
    def buy(slug: str) -> BaseResponse:
        """Create the checkout session on the server (the key never reaches the browser)
        and send the shopper to tillpoint's page."""
        if slug not in PRODUCTS:
            abort(404)
        try:
            session = tillpoint.create_checkout_session(
                line_items=[PRODUCTS[slug].line_item()],
                success_url=f"{shop_url}/success?session_id={{CHECKOUT_SESSION_ID}}",
                cancel_url=f"{shop_url}/products/{slug}",
                client_reference_id=f"flask-{uuid.uuid4().hex[:12]}",
                metadata={"shop": "flask_shop", "product": slug},
            )
        except TillpointError as exc:  # e.g. sold out (422), or tillpoint unreachable
            problem = render_template("product.html", product=PRODUCTS[slug], error=exc.message)
            return Response(problem, status=503 if exc.status is None else 422)
        if session.url is None:  # never for a new session; no page to send the shopper to
            abort(502)
        return redirect(session.url, code=303)

    @app.get("/success")
    def success() -> str:
        session_id = request.args.get("session_id")
        if not session_id:
            abort(404)
        try:
            session = tillpoint.get_checkout_session(session_id)
        except TillpointError as exc:
            abort(404 if exc.status == 404 else 502)
        return render_template("success.html", session=session)

    @app.post("/webhooks/tillpoint")
    def webhook() -> tuple[str, int]:
        """Verify the signature over the raw body, then keep the order (once per event)."""
        try:
            event = construct_event(
                request.get_data(), request.headers.get("Tillpoint-Signature"), secret
            )
        except SignatureVerificationError:
            return "bad signature", 400
        if event.type == "checkout.session.completed":
            book.record(event)
        return "ok", 200

    @app.get("/orders")
    def orders() -> str:
        return render_template("orders.html", orders=book.all())

    return app
