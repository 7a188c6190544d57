"""Settings of the example shop: no database of Django's own (paid orders go to a SQLite
file of the shop's, see orders.py), tillpoint's address and secrets from the environment."""

import os
from pathlib import Path

HERE = Path(__file__).resolve().parent

# Development only: a real shop sets its own DJANGO_SECRET_KEY.
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "example-shop-not-secret-change-me")
DEBUG = os.environ.get("DJANGO_DEBUG", "") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "shop.urls"
INSTALLED_APPS = ["shop"]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    }
]
DATABASES: dict[str, dict[str, str]] = {}
USE_TZ = True
TIME_ZONE = "UTC"

TILLPOINT_URL = os.environ.get("TILLPOINT_URL", "http://127.0.0.1:8000")
TILLPOINT_API_KEY = os.environ["TILLPOINT_API_KEY"]
TILLPOINT_WEBHOOK_SECRET = os.environ["TILLPOINT_WEBHOOK_SECRET"]
SHOP_URL = os.environ.get("SHOP_URL", "http://127.0.0.1:8001").rstrip("/")
SHOP_ORDERS_DB = Path(os.environ.get("SHOP_ORDERS_DB", HERE.parent / "orders.db"))
