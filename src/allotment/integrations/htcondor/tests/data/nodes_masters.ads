# call: Collector.query
# projection: Name Machine MyAddress
#
# Master ads in pool brecca's collector (condor_status -master -long -attributes
# <projection>). A burst VM's master is named as its host (NETWORK_HOSTNAME, the VM's
# name). Written by hand in that shape: no HTCondor daemon runs here.
#   brecca-vm011, brecca-vm012, brecca-vm017  running; brecca-vm016 has no master ad

MyType = "DaemonMaster"
Name = "brecca-vm011"
Machine = "brecca-vm011"
MyAddress = "<10.20.0.11:9618?addrs=10.20.0.11-9618&alias=brecca-vm011&noUDP&sock=master_1650_02f4>"

MyType = "DaemonMaster"
Name = "brecca-vm012"
Machine = "brecca-vm012"
MyAddress = "<10.20.0.12:9618?addrs=10.20.0.12-9618&alias=brecca-vm012&noUDP&sock=master_1633_8d10>"

MyType = "DaemonMaster"
Name = "brecca-vm017"
Machine = "brecca-vm017"
MyAddress = "<10.20.0.17:9618?addrs=10.20.0.17-9618&alias=brecca-vm017&noUDP&sock=master_1641_6c55>"
