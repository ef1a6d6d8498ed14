"""The private storage, `STORAGES["private"]`, looked up when first used (as Django's `default_storage` is), so a
test that changes STORAGES gets the new one."""

from django.core.files.storage import storages
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.functional import LazyObject, empty


class PrivateStorage(LazyObject):
    def _setup(self):
        self._wrapped = storages["private"]


private_storage = PrivateStorage()


@receiver(setting_changed)
def forget_the_private_storage(setting, **kwargs):
    if setting == "STORAGES":
        private_storage._wrapped = empty
