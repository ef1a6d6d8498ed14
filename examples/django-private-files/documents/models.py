"""A document: its owner and its private file, kept in the private storage (never served without a signed link)."""

from django.conf import settings
from django.db import models

from documents.storage import private_storage


def private_storage_of_documents():
    return private_storage


class Document(models.Model):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="documents")
    title = models.CharField(max_length=200)
    # The seed's S3PrivateFileField: a FileField on the private storage (callable, so migrations name no backend).
    private_file = models.FileField(upload_to="seekrit/", storage=private_storage_of_documents, max_length=255)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self):
        return self.title

    def may_be_downloaded_by(self, user):
        """The seed's rule: the owner, or staff."""
        return user.is_authenticated and (user.pk == self.owner_id or user.is_staff)
