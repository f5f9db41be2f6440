from __future__ import annotations

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter(trailing_slash=False)
router.register("webhooks/deliveries", views.DeliveryViewSet, basename="webhook-delivery")

urlpatterns = [path("api/", include(router.urls))]
