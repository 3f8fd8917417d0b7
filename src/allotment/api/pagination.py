"""Pages of API lists: limit/offset, with a ceiling, counted only when the page cannot tell.

Without a ceiling a client could ask for every row of a million-row table in one answer,
or for a limit the database cannot even represent (2**63), which was a server error.

The total (`count`) costs a second query over the whole filtered list. A page with fewer
rows than the limit is the last one, so the total is its offset plus its length: only a
full page (or an empty one past the start) needs the COUNT query. Most scripts' lists (a
project's members, a person's groups) fit in one page and are answered with one query.
"""

from rest_framework.pagination import LimitOffsetPagination

LARGEST_OFFSET = 2**63 - 1


class Pagination(LimitOffsetPagination):
    default_limit = 50
    max_limit = 1000

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        self.limit = self.get_limit(request)
        if self.limit is None:
            return None
        self.offset = self.get_offset(request)
        if self.offset + self.limit > LARGEST_OFFSET:
            # Past any table there could be, and past what SQLite takes as an OFFSET.
            self.count = self.get_count(queryset)
            return []
        page = list(queryset[self.offset : self.offset + self.limit])
        if 0 < len(page) < self.limit or (not page and self.offset == 0):
            self.count = self.offset + len(page)
        else:
            self.count = self.get_count(queryset)
        if self.count > self.limit and self.template is not None:
            self.display_page_controls = True
        return page
