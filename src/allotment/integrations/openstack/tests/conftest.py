"""The loopback cloud's fixtures (until the root conftest registers the plugin)."""

from allotment.integrations.openstack.testing import (  # noqa: F401
    boot,
    boot_args,
    openstack_cloud,
    openstack_conn,
    tango,
)
