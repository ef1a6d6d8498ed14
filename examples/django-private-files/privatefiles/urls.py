"""The example's routes: Django's login views and the documents app."""

from django.urls import include, path

urlpatterns = [
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("documents.urls")),
]
