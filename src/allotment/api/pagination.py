"""Pages of API lists: limit/offset, with a ceiling.

Without a ceiling a client could ask for every row of a million-row table in one answer,
or for a limit the database cannot even represent (2**63), which was a server error.
"""

from rest_framework.pagination import LimitOffsetPagination


class Pagination(LimitOffsetPagination):
    default_limit = 50
    max_limit = 1000
