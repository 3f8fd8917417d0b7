"""The EC2 driver's pure parts, without any server: how states, tags, options and AWS's
errors translate into what burst decides on."""

import datetime

import pytest
from botocore import exceptions as boto

from allotment.burst.engines import TAG_KEY, VM_KEY, BootRequest, ServerStatus
from allotment.integrations.ec2 import session
from allotment.integrations.ec2.driver import (
    Ec2Cloud,
    checksums_of,
    client_token,
    image_info,
    server_info,
    status_of,
)
from allotment.integrations.ec2.session import Ec2Options, engine_error, read_keys

GOOD = {"region": "us-east-1", "profile": "p", "credentials_file": "/nonexistent",
        "instance_types": ["t3.small"]}  # fmt: skip
SHA = "a" * 64


@pytest.mark.parametrize(
    ("state", "reason", "expected"),
    [
        ("pending", "", ServerStatus.BUILDING),
        ("running", "", ServerStatus.ACTIVE),
        ("shutting-down", "Client.UserInitiatedShutdown", ServerStatus.DELETING),
        ("stopping", "Client.UserInitiatedShutdown", ServerStatus.OTHER),
        ("stopped", "Client.InstanceInitiatedShutdown", ServerStatus.OTHER),
        ("stopped", "Server.InsufficientInstanceCapacity", ServerStatus.ERROR),
        ("stopping", "Server.InternalError", ServerStatus.ERROR),
        ("running", "Server.InternalError", ServerStatus.ACTIVE),
        ("hibernating", "", ServerStatus.OTHER),
    ],
)
def test_instance_states_map_to_server_statuses(state, reason, expected):
    assert status_of(state, reason) == expected


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        (f"sha256:{SHA}", {"sha256": SHA}),
        (f"SHA256:{SHA.upper()}", {"sha256": SHA}),
        ("sha512:" + "b" * 128, {"sha512": "b" * 128}),
        ("0123456789abcdef" * 2, {"md5": "0123456789abcdef" * 2}),
        (SHA, {}),  # a bare digest is an md5 or nothing
        ("", {}),
        ("sha256:not-hex", {}),
        ("deadbeef", {}),
        ("sha-256:" + SHA, {}),
    ],
)
def test_checksum_tag_maps_to_algorithm_and_digest(tag, expected):
    assert checksums_of(tag) == expected


def test_image_lists_active_with_its_checksum_and_size():
    image = {"ImageId": "ami-1", "Name": "burst-worker", "State": "available",
             "Tags": [{"Key": "allotment-checksum", "Value": f"sha256:{SHA}"},
                      {"Key": "allotment-size", "Value": "1048576"}]}  # fmt: skip
    info = image_info(image)
    assert (info.name, info.id, info.status, info.checksums, info.size) == (
        "burst-worker",
        "ami-1",
        "active",
        {"sha256": SHA},
        1048576,
    )
    assert image_info({"ImageId": "ami-2", "State": "pending"}).status == "pending"
    assert image_info({"ImageId": "ami-2", "State": "pending"}).name == "ami-2"


def test_server_shows_tags_flavor_time_and_only_an_error_s_fault():
    launched = datetime.datetime(2100, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    instance = {"InstanceId": "i-1", "InstanceType": "t3.small", "LaunchTime": launched,
                "State": {"Name": "stopped"},
                "StateReason": {"Code": "Server.InsufficientInstanceCapacity",
                                "Message": "Server.InsufficientInstanceCapacity: no capacity"},
                "Tags": [{"Key": VM_KEY, "Value": "vm-1"},
                         {"Key": TAG_KEY, "Value": "s"}]}  # fmt: skip
    info = server_info(instance)
    assert info.status == ServerStatus.ERROR
    assert info.fault == "Server.InsufficientInstanceCapacity: no capacity"
    assert (info.id, info.name, info.flavor, info.created) == (
        "i-1",
        "vm-1",
        "t3.small",
        "2100-01-02T03:04:05+00:00",
    )
    assert info.tags == {VM_KEY: "vm-1", TAG_KEY: "s"}
    running = {**instance, "State": {"Name": "running"}, "StateReason": {}}
    assert server_info(running).fault == ""


def request(**changes):
    fields = {"name": "vm-1", "flavor_id": "t3.small", "image_id": "ami-1",
              "user_data": "#cloud-config\n", "tags": {VM_KEY: "vm-1"}}  # fmt: skip
    return BootRequest(**{**fields, **changes})


def test_client_token_is_stable_for_a_request_and_differs_for_another():
    token = client_token(request(), {})
    assert token == client_token(request(), {})
    assert token.startswith("allotment-") and len(token) == 58
    others = {
        client_token(request(name="vm-2"), {}),
        client_token(request(image_id="ami-2"), {}),
        client_token(request(user_data="x"), {}),
        client_token(request(), {"subnet_id": "s"}),
    }
    assert token not in others and len(others) == 4


@pytest.mark.parametrize("key", ["aws_secret_access_key", "aws_access_key_id", "Session_Token"])
def test_options_holding_a_key_are_refused(key):
    with pytest.raises(session.EngineError, match=f"hold {key}: credentials are never kept"):
        Ec2Options.parse("c1", {**GOOD, key: "x"})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"region": ""}, "The options of EC2 cloud c1 name no region"),
        ({"profile": ""}, "The options of EC2 cloud c1 name no profile"),
        ({"zone": "a"}, "have unknown keys zone"),
        ({"endpoint_url": "http://ec2.example.org"}, "must be https, or http on loopback"),
        ({"timeout": "soon"}, "timeout 'soon' is not a number of seconds"),
        ({"instance_types": []}, "offer no instance types"),
    ],
)
def test_bad_options_are_refused_saying_what(change, message):
    with pytest.raises(session.EngineError, match=message) as caught:
        Ec2Cloud("c1", {**GOOD, **change})
    assert caught.value.permanent


def test_loopback_and_https_endpoints_are_accepted():
    for url in ("http://127.0.0.1:5055", "http://localhost:5055", "https://ec2.example.org"):
        assert Ec2Options.parse("c1", {**GOOD, "endpoint_url": url}).endpoint_url == url


def test_keys_come_from_the_profile_of_the_file(tmp_path):
    path = tmp_path / "credentials"
    path.write_text("[a]\naws_access_key_id = K\naws_secret_access_key = S\n[b]\nregion = x\n")
    opts = Ec2Options.parse("c1", {**GOOD, "profile": "a", "credentials_file": str(path)})
    assert read_keys(opts) == {"aws_access_key_id": "K", "aws_secret_access_key": "S"}
    with pytest.raises(session.EngineError, match=r"has no profile \[c\] \(it has a, b\)"):
        read_keys(Ec2Options.parse("c1", {**GOOD, "profile": "c", "credentials_file": str(path)}))
    with pytest.raises(session.EngineError, match="has no aws_access_key_id or aws_secret"):
        read_keys(Ec2Options.parse("c1", {**GOOD, "profile": "b", "credentials_file": str(path)}))
    with pytest.raises(session.EngineError, match="/nonexistent, does not exist"):
        read_keys(Ec2Options.parse("c1", GOOD))


def client_error(code, status=400, message="it says no"):
    reply = {"Error": {"Code": code, "Message": message},
             "ResponseMetadata": {"HTTPStatusCode": status}}  # fmt: skip
    return boto.ClientError(reply, "RunInstances")


@pytest.mark.parametrize(
    ("error", "permanent"),
    [
        (client_error("RequestLimitExceeded", 503), False),
        (client_error("Throttling"), False),
        (client_error("InsufficientInstanceCapacity", 500), False),
        (client_error("SomethingNew", 502), False),
        (client_error("InvalidAMIID.NotFound"), True),
        (client_error("InvalidInstanceType"), True),
        (client_error("AuthFailure", 401), True),
        (client_error("UnauthorizedOperation", 403), True),
        (client_error("VcpuLimitExceeded"), True),
        (boto.EndpointConnectionError(endpoint_url="http://127.0.0.1:1"), False),
        (boto.ConnectTimeoutError(endpoint_url="http://127.0.0.1:1"), False),
        (boto.ReadTimeoutError(endpoint_url="http://127.0.0.1:1"), False),
        (boto.SSLError(endpoint_url="https://x", error="bad certificate"), True),
        (boto.NoCredentialsError(), True),
        (boto.ParamValidationError(report="MinCount is missing"), True),
    ],
)
def test_aws_errors_are_temporary_or_permanent(error, permanent):
    mapped = engine_error("c1", "run_instances (vm-1)", error)
    assert mapped.permanent is permanent
    assert str(mapped).startswith("EC2 cloud c1: run_instances (vm-1) failed")


def test_an_error_message_carries_aws_code_and_words():
    mapped = engine_error("c1", "run_instances (vm-1)", client_error("InvalidAMIID.NotFound"))
    assert str(mapped) == (
        "EC2 cloud c1: run_instances (vm-1) failed: InvalidAMIID.NotFound: it says no"
    )


def test_fetch_image_says_images_are_copied_in_not_out(tmp_path):
    with pytest.raises(session.EngineError, match="EC2 images are copied in") as caught:
        Ec2Cloud("c1", GOOD).fetch_image("ami-1", tmp_path)
    assert caught.value.permanent


class TokenMemory(Ec2Cloud):
    """RunInstances as EC2 answers it: a token it has seen returns that token's instance,
    whatever became of it; listings show no live instance of the name."""

    def __init__(self):
        super().__init__("c1", GOOD)
        self.by_token: dict[str, dict] = {}
        self.runs = 0

    def instances(self, states, **filters):
        return []

    def call(self, what, method, service="ec2", **params):
        assert method == "run_instances"
        self.runs += 1
        token = params["ClientToken"]
        if token not in self.by_token:
            number = len(self.by_token) + 1
            self.by_token[token] = {"InstanceId": f"i-{number}", "State": {"Name": "pending"}}
        return {"Instances": [self.by_token[token]]}

    def end_all(self):
        for instance in self.by_token.values():
            instance["State"]["Name"] = "terminated"


def test_a_name_booted_again_follows_ec2_s_token_memory_to_a_new_instance():
    ec2 = TokenMemory()
    assert ec2.boot(request()) == "i-1"
    assert ec2.boot(request()) == "i-1"  # a retry: EC2's no-op
    ec2.end_all()
    assert ec2.boot(request()) == "i-2"  # the name's second life
    assert ec2.boot(request()) == "i-2"  # ... booted once, whoever asks again
    ec2.end_all()
    assert ec2.boot(request()) == "i-3"
    assert (len(ec2.by_token), ec2.runs) == (3, 9)
