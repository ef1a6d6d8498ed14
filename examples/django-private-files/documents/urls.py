"""The documents app's routes."""

from django.conf import settings
from django.urls import path
from storage_rs.django_links import link_urls

from documents import views

urlpatterns = [
    path("", views.index, name="index"),
    path("documents/<int:pk>/", views.document, name="document"),
    path("documents/<int:pk>/file", views.private_file, name="private_file"),
    path("documents/direct/", views.direct_upload, name="direct_upload"),
    path("documents/direct/done", views.direct_upload_done, name="direct_upload_done"),
]

# The private storage's own links and upload forms, answered here when it is in memory (a disk storage's by `storage
# serve`, an S3 storage's by S3: for them these paths answer 404).
urlpatterns += link_urls(settings.PRIVATE_LINKS_PATH.lstrip("/"), "private")
