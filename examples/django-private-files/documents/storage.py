"""The private storage, `STORAGES["private"]`, looked up when first used (as Django's `default_storage` is), so a
test that changes STORAGES gets the new one. (`storage_rs.django.PrivateFileField` resolves its storage once, when
the model class is made.)"""

from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.functional import LazyObject, empty
from storage_rs.django import private_storage as checked_private_storage


class PrivateStorage(LazyObject):
    def _setup(self):
        # Refused unless its url() signs: a private storage that handed out plain URLs would serve everything.
        self._wrapped = checked_private_storage("private")


private_storage = PrivateStorage()


@receiver(setting_changed)
def forget_the_private_storage(setting, **kwargs):
    if setting == "STORAGES":
        private_storage._wrapped = empty
