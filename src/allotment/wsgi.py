"""The WSGI application gunicorn serves (`gunicorn allotment.wsgi`)."""

import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "allotment.settings")
application = get_wsgi_application()

# What is loaded by now (Django, our modules, the URL patterns) lives as long as the
# process. Frozen, it is left out of the collector's full passes, which a request making
# tens of thousands of objects (a large explorer query) sets off: those passes then scan
# only what requests made, and the slowest answers come closer to the typical ones.
gc.collect()
gc.freeze()
