"""Django's own naming functions, for the differential test in crates/storage-core/tests/core/django.rs.

Reads one JSON request a line on stdin and writes one JSON answer a line on stdout, in order:
  {"fn": "valid", "name": N}                      -> django.utils.text.get_valid_filename(N)
  {"fn": "generate", "name": N}                   -> Storage().generate_filename(N)
  {"fn": "available", "name": N, "max_length": M, "taken": T, "extra": E}
                                                  -> Storage.get_available_name(N, M), where the original name
                                                     exists when T, and the first E other names asked about exist
An answer is {"ok": NAME} or {"err": EXCEPTION_CLASS}. The random part of an alternative name is written as
seven U+E000 characters, so the test compares it by shape.
"""

import json
import sys

from django.conf import settings

settings.configure()

from django.core.files.storage import Storage  # noqa: E402
from django.utils.text import get_valid_filename  # noqa: E402

RANDOM = "\ue000" * 7


class Scripted(Storage):
    """A storage whose exists() answers from the request, and whose alternative names show where the random part is."""

    def __init__(self, original, taken, extra):
        self.original = original.replace("\\", "/")
        self.taken = taken
        self.extra = extra

    def exists(self, name):
        if name == self.original:
            return self.taken
        if self.extra > 0:
            self.extra -= 1
            return True
        return False

    def get_alternative_name(self, file_root, file_ext):
        return f"{file_root}_{RANDOM}{file_ext}"


def answer(request):
    name = request["name"]
    if request["fn"] == "valid":
        return get_valid_filename(name)
    if request["fn"] == "generate":
        return Storage().generate_filename(name)
    storage = Scripted(name, request["taken"], request["extra"])
    return storage.get_available_name(name, max_length=request["max_length"])


def main():
    out = sys.stdout
    for line in sys.stdin:
        try:
            result = {"ok": answer(json.loads(line))}
        except Exception as err:  # every exception is an answer: the test compares refusals too
            result = {"err": type(err).__name__}
        out.write(json.dumps(result) + "\n")
    out.flush()


if __name__ == "__main__":
    main()
