"""OpenStack compute (Nova) as a service a node can be in, through openstacksdk.

compute.NovaHosts is the shift's view of a Nova cloud's compute hosts (engines.ServicePort);
devcloud runs a real Keystone, Placement, Glance and Nova on loopback for tests and the demo
(`allot dev openstack`), whose hypervisors are nova-compute processes with Nova's fake driver.
Only Neutron is a stand-in there (neutron_stub).
"""
