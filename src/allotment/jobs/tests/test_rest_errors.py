"""slurmrestd's answers, as measured on 22.05.8 (shared/notes/slurmrestd-jwt.md §6), become
sentences naming what failed, for whom and where; tokens carry the claims slurmctld reads."""

import base64
import hashlib
import hmac
import json

import pytest

from allotment.integrations.slurm import rest


def explained(status: int, body: dict) -> rest.RestError:
    errors = [e for e in body.get("errors") or [] if isinstance(e, dict)]
    return rest.explain(status, body, errors, user="bob", doing="cancel job 2", machine="brecca")


@pytest.mark.parametrize(
    ("status", "body", "kind", "message"),
    [
        (500, {"errors": [{"error_number": 2002, "description":
            "unable to kill JobId=2 with signal 9: Access/permission denied"}]}, "denied",
         "Slurm on brecca refused to let bob cancel job 2: permission denied (only the job's "
         "owner or an operator may)."),
        (500, {"errors": [{"error_number": 2017, "description": "Unable to find JobId=2"}]},
         "not_found", "Slurm on brecca has no such job that bob can see (could not cancel job 2)."),
        (500, {"errors": [{"error_code": 5005, "error":
            "Zero Bytes were transmitted or received"}]}, "auth",
         "Slurm on brecca did not accept the token for bob, or slurmctld is not answering; "
         "could not cancel job 2 (Zero Bytes were transmitted or received)."),
        (500, {"errors": [{"error_number": -1, "description": "Unspecified error"}]},
         "unreachable", "Slurm on brecca did not accept the token for bob, or slurmctld is not "
         "answering; could not cancel job 2 (Unspecified error)."),
        (500, {"errors": [{"error_number": 1800, "description": "connect failure"}]},
         "unreachable", "slurmctld on brecca did not answer slurmrestd; could not cancel job 2 "
         "for bob."),
        (500, {"errors": [{"error_code": 2045, "error": "Invalid account"}]}, "refused",
         "Slurm on brecca refused bob's job: bob may not charge that account (no association "
         "yet: the ledger's accounts reach Slurm at the next sync)."),
        (500, {"errors": [{"error_code": 2000, "error": "Invalid partition name specified"}]},
         "refused", "Slurm on brecca refused bob's job: no such partition."),
        (401, {"text": "Authentication failure"}, "auth",
         "slurmrestd on brecca refused the request's authentication for bob (Authentication "
         "failure)."),
        (400, {"errors": [{"error_code": 2127, "error": "environment must be set"},
                          {"error_code": 9001, "error": "Failure during parsing"}]}, "refused",
         "slurmrestd on brecca refused the request to cancel job 2 for bob: environment must be "
         "set; Failure during parsing"),
    ],
)  # fmt: skip
def test_slurmrestds_answers_become_clear_messages(status, body, kind, message):
    error = explained(status, body)
    assert (error.kind, str(error)) == (kind, message)
    assert error.permanent is (kind != "unreachable")


def test_a_token_signed_with_the_key_carries_exp_iat_and_sun(tmp_path):
    key = tmp_path / "jwt.key"
    key.write_bytes(b"k" * 32)
    token = rest.token_from_key(key, "alice", seconds=60)
    header, payload, signature = token.split(".")

    def decoded(part: str) -> bytes:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))

    claims = json.loads(decoded(payload))
    assert json.loads(decoded(header)) == {"alg": "HS256", "typ": "JWT"}
    assert (claims["sun"], claims["exp"] - claims["iat"]) == ("alice", 60)
    expected = hmac.new(b"k" * 32, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    assert decoded(signature) == expected


def test_a_machine_without_slurmrestd_takes_no_jobs():
    with pytest.raises(rest.RestError, match=r"^Machine tango takes no jobs through Allotment"):
        rest.SlurmRest.for_options("tango", {"slurm_conf": "/etc/slurm/slurm.conf"})


def test_nothing_answering_is_unreachable_and_names_the_url():
    client = rest.SlurmRest("http://127.0.0.1:9", lambda user: "token", "brecca", timeout=2)
    with pytest.raises(rest.RestError) as e:
        client.ping("alice")
    assert e.value.kind == "unreachable"
    assert str(e.value).startswith("slurmrestd of brecca at http://127.0.0.1:9 did not answer")
