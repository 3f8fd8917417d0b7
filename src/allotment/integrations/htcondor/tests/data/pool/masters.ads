# call: Collector.query
# projection: Name Machine MyAddress
#
# brecca-vm001's master in pool brecca's collector, once the VM has booted. Written by
# hand: no HTCondor daemon runs here.

MyType = "DaemonMaster"
Name = "brecca-vm001"
Machine = "brecca-vm001"
MyAddress = "<10.30.0.21:9618?addrs=10.30.0.21-9618&alias=brecca-vm001&noUDP&sock=master_1498_07aa>"
