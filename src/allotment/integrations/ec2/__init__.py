"""Amazon EC2: a cloud burst boots worker VMs in, through boto3.

session.py reads a cloud's options and the credentials file they name, makes the boto3
clients (short timeouts, one retry) and says what an AWS error means; driver.py is the
burst CloudDriver (quota, flavors, images, servers, boot, delete, images copied in);
upload.py copies a raw disk image into an EBS snapshot. For tests, CI and the demo,
devec2.py runs moto's server on loopback (`allot dev ec2`), and testing.py is its pytest
plugin.
"""
