"""The request log without queries: a signed link's query is a bearer credential until the link expires."""

import logging
import re

# The query of the request line runserver logs: `GET /links/a.bin?X-Amz-Signature=… HTTP/1.1`.
QUERY = re.compile(r"\?[^ ]*")


class DropLinkQueries(logging.Filter):
    """Replace the query of every logged request line with `?…`, keeping the method, path and status."""

    def filter(self, record):
        if record.args:
            record.args = tuple(QUERY.sub("?…", arg) if isinstance(arg, str) else arg for arg in record.args)
        record.msg = QUERY.sub("?…", record.msg) if isinstance(record.msg, str) else record.msg
        return True
