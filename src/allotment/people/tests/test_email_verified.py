"""Person.email_verified: kept only for an address someone vouched for (issue 10, item 3)."""

import importlib

from django.apps import apps

from allotment.people.models import Person

migration = importlib.import_module("allotment.people.migrations.0003_email_verified")


def fresh(username: str) -> Person:
    return Person.objects.get(username=username)


def test_a_plain_write_of_the_email_leaves_it_unverified(example):
    bob = fresh("bob")
    bob.set_email(bob.email, verified=True)
    bob.save()
    assert fresh("bob").email_verified

    bob = fresh("bob")
    bob.first_name = "Robert"
    bob.save()  # other fields: the verification stands
    assert fresh("bob").email_verified

    bob.email = "bob@elsewhere.example"
    bob.save()
    assert (fresh("bob").email, fresh("bob").email_verified) == ("bob@elsewhere.example", False)


def test_a_write_of_named_fields_with_the_email_clears_the_flag_too(example):
    bob = fresh("bob")
    bob.set_email("bob@institutea.example.org", verified=True)
    bob.save()
    bob = fresh("bob")
    bob.email = "other@elsewhere.example"
    bob.save(update_fields=["email"])
    assert fresh("bob").email_verified is False


def test_set_email_vouches_for_the_new_address(example):
    bob = fresh("bob")
    bob.set_email("  Bob@New.Example ", verified=True)
    bob.save()
    assert (fresh("bob").email, fresh("bob").email_verified) == ("Bob@new.example", True)
    bob.set_email("", verified=True)
    bob.save()
    assert (fresh("bob").email, fresh("bob").email_verified) == ("", False)


def test_a_superuser_made_at_the_shell_has_a_verified_email(db):
    root = Person.objects.create_superuser("root", "root@site.example.org", "x")
    plain = Person.objects.create_user("plain", "plain@site.example.org", "x")
    assert (fresh("root").email_verified, fresh("plain").email_verified) == (True, False)
    assert root.email_verified and not plain.email_verified


def test_the_migration_verifies_existing_emails_except_shared_ones(example):
    Person.objects.update(email_verified=False)
    Person.objects.filter(username="bob").update(email="ALICE@institutea.example.org")
    Person.objects.filter(username="chen").update(email="")
    migration.verify_existing_emails(apps, None)
    verified = dict(Person.objects.values_list("username", "email_verified"))
    assert verified == {
        "alice": False,  # shares its address with bob, ignoring case
        "bob": False,
        "chen": False,  # no email
        "dana": True,
        "eve": True,
        "farid": True,
        "grace": True,
    }
