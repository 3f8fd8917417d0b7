"""OpenStack Ironic: the provisioner that deploys images to bare-metal nodes.

Allotment talks to Ironic only over its HTTP API, through openstacksdk's baremetal proxy
(provisioner.py), as a real site would. For tests, CI and the demo, devironic.py runs a real
standalone Ironic with fake hardware on loopback, in a virtualenv of its own: Ironic pins
many libraries (SQLAlchemy, eventlet, oslo.*) that must not meet the project's.
"""
