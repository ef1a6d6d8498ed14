"""The seed's views: a list of one's documents, uploads (through the app, or straight from the browser to the
storage), and `private_file`, the seed's SecretFileView: a check of the user, then a redirect to a 60-second link."""

import secrets
from pathlib import PurePosixPath

from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from documents import links
from documents.models import Document
from documents.storage import private_storage

# The session key holding the storage prefixes this session was given for direct uploads.
ISSUED_PREFIXES = "direct_upload_prefixes"
# How many direct-upload prefixes a session remembers (the newest).
MAX_ISSUED_PREFIXES = 16


class UploadForm(forms.ModelForm):
    class Meta:
        model = Document
        fields = ["title", "private_file"]


@login_required
@require_http_methods(["GET", "POST"])
def index(request):
    """Your documents (staff see everyone's), and a form that uploads through the app."""
    if request.method == "POST":
        form = UploadForm(request.POST, request.FILES)
        if form.is_valid():
            document = form.save(commit=False)
            document.owner = request.user
            document.save()
            return redirect("document", pk=document.pk)
    else:
        form = UploadForm()
    documents = Document.objects.all() if request.user.is_staff else request.user.documents.all()
    return render(request, "documents/index.html", {"documents": documents, "form": form})


@login_required
@require_GET
def document(request, pk):
    document = get_object_or_404(Document, pk=pk)
    if not document.may_be_downloaded_by(request.user):
        raise Http404("no such document")
    return render(request, "documents/document.html", {"document": document})


@never_cache
@require_GET
def private_file(request, pk):
    """The seed's SecretFileView: only the owner (or staff) is redirected, temporarily, to a link that expires.
    Everyone else gets 404, so a stranger cannot tell whose documents exist."""
    document = get_object_or_404(Document, pk=pk)
    if not document.may_be_downloaded_by(request.user) or not document.private_file:
        raise Http404("no such document")
    name = document.private_file.name
    link = links.download_link(private_storage, name, settings.PRIVATE_LINK_SECONDS, PurePosixPath(name).name)
    # 302, never 301: the target changes on every request and expires (never_cache: nothing may remember it).
    return HttpResponseRedirect(link)


@login_required
@require_GET
def direct_upload(request):
    """A form that posts the file straight to the private storage (S3, or this app's /links/ for disk and memory),
    into a fresh prefix given to this session; the storage then sends the browser back to `direct_upload_done`."""
    prefix = f"seekrit/direct/{secrets.token_urlsafe(12)}/"
    done = request.build_absolute_uri(reverse("direct_upload_done"))
    form = links.upload_form(private_storage, prefix, settings.DIRECT_UPLOAD_MAX_BYTES, done)
    issued = request.session.get(ISSUED_PREFIXES, [])
    request.session[ISSUED_PREFIXES] = (issued + [prefix])[-MAX_ISSUED_PREFIXES:]
    return render(request, "documents/direct_upload.html", {"form": form})


def issued_name(request, key):
    """The storage name of `key` (S3's redirect names the whole key, the storage's location before it) if it lies
    under a prefix this session was given and is a plain name: `prefix/../elsewhere` is nobody's upload."""
    for prefix in request.session.get(ISSUED_PREFIXES, []):
        at = key.find(prefix)
        if at < 0:
            continue
        name = key[at:]
        rest = name[len(prefix) :]
        if rest and "/" not in rest and rest not in (".", "..") and "\\" not in rest:
            return name
    return None


@login_required
@require_http_methods(["GET", "POST"])
def direct_upload_done(request):
    """The storage's redirect lands here (a GET, which changes nothing: it shows a form that posts back with the
    CSRF token); the POST records the document if the file is under a prefix this session was given and exists."""
    key = request.POST.get("key") if request.method == "POST" else request.GET.get("key")
    name = issued_name(request, key or "")
    if name is None or not private_storage.exists(name):
        raise Http404("no such upload")
    if request.method == "GET":
        return render(request, "documents/direct_done.html", {"key": key, "filename": PurePosixPath(name).name})
    # The file is stored already: the field is given its name, and Django saves nothing again.
    document = Document.objects.create(owner=request.user, title=PurePosixPath(name).name, private_file=name)
    return redirect("document", pk=document.pk)
