"""The documents app's routes."""

from django.urls import path

from documents import views

urlpatterns = [
    path("", views.index, name="index"),
    path("documents/<int:pk>/", views.document, name="document"),
    path("documents/<int:pk>/file", views.private_file, name="private_file"),
    path("documents/direct/", views.direct_upload, name="direct_upload"),
    path("documents/direct/done", views.direct_upload_done, name="direct_upload_done"),
]
