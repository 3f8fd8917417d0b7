"""The real Ironic's fixtures (integrations.ironic.testing) for these tests.

Imported here until the root conftest lists the module in `pytest_plugins`; then this
import goes (two registrations would make two session fixtures).
"""

from allotment.integrations.ironic.testing import ironic, ironic_endpoint  # noqa: F401
