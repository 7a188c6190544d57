from django.urls import path

from shop import views

urlpatterns = [
    path("", views.index),
    path("products/<slug:slug>", views.product),
    path("products/<slug:slug>/buy", views.buy),
    path("success", views.success),
    path("webhooks/tillpoint", views.webhook),
    path("orders", views.orders),
]
