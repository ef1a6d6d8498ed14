"""The URLconf of test_links.py: the "linked" storage's links answered under /private-links/."""

from storage_rs.django_links import link_urls

urlpatterns = link_urls("private-links/", "linked")
