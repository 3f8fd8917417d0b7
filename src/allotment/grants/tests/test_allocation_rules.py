"""Grants and allocations: every rule, with the message that names what broke it."""

from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from allotment.core.validation import save_validated
from allotment.grants.models import Allocation, AllocationCap, AllocationPeriod, AllocationPool
from allotment.grants.services import allocate, create_grant, project_pools
from allotment.resources.models import Resource


def test_example_allocations_of_project_a(example):
    pools = {p.pool: p for p in project_pools(example.projects["ProjectA"], "2100")}
    assert pools["Disk Space"].allocated == Decimal(600)
    assert pools["Disk Space"].units == "KB"
    assert pools["CPU Hours"].allocated == Decimal(60)
    assert pools["CPU Hours"].used == 0
    assert pools["CPU Hours"].remaining == Decimal(60)
    assert pools["CPU Hours"].percent_used == 0.0


def test_an_allocations_grant_must_belong_to_the_pools_project(example):
    pool = AllocationPool.objects.get(project__pid="ProjectA", resource_pool__name="CPU Hours")
    with pytest.raises(ValidationError) as e:
        save_validated(Allocation(grant=example.grant2, allocation_pool=pool, quantity=5))
    assert e.value.message_dict["grant"] == [
        f'Grant {example.grant2.pk} to ProjectD (ET) belongs to project "ProjectD", but the '
        'allocation pool "ProjectA · CPU Hours · 2100" belongs to "ProjectA": an allocation\'s '
        "grant must belong to its pool's project."
    ]


def test_a_grant_begins_on_or_before_it_expires(example):
    with pytest.raises(ValidationError) as e:
        create_grant(
            example.projects["ProjectB"], example.scheme, date(2100, 6, 1), date(2100, 5, 1)
        )
    assert e.value.message_dict["expires"] == [
        "Grant new to ProjectB (ET): a grant must begin on or before it expires; it begins "
        "2100-06-01 and expires 2100-05-01."
    ]


def test_the_database_refuses_a_grant_that_expires_before_it_begins(example):
    with pytest.raises(IntegrityError), transaction.atomic():
        type(example.grant1).objects.filter(pk=example.grant1.pk).update(begins=date(2101, 1, 1))


def test_an_allocations_period_must_overlap_its_grant(example):
    period = save_validated(
        AllocationPeriod(name="2101", start=date(2101, 1, 1), end=date(2101, 12, 31))
    )
    with pytest.raises(ValidationError) as e:
        allocate(example.grant1, period, example.pools["CPU Hours"], Decimal(5))
    assert e.value.message_dict["grant"] == [
        f"Grant {example.grant1.pk} to ProjectA (ET) runs 2100-01-01 to 2100-12-31, which does "
        'not overlap period "2101" (2101-01-01 to 2101-12-31).'
    ]
    assert not AllocationPool.objects.filter(period=period).exists(), "nothing half-written"


def test_allocation_quantities_are_not_negative(example):
    with pytest.raises(ValidationError) as e:
        allocate(example.grant1, example.period, example.pools["CPU Hours"], Decimal(-1))
    assert e.value.message_dict["quantity"] == ["An allocation's quantity cannot be negative (-1)."]


def test_the_database_refuses_a_negative_allocation(example):
    with pytest.raises(IntegrityError), transaction.atomic():
        Allocation.objects.filter(grant=example.grant1).update(quantity=Decimal(-1))


def test_resource_quantities_are_not_negative(example):
    resource = Resource.objects.first()
    resource.quantity = Decimal("-2.5")
    with pytest.raises(ValidationError) as e:
        save_validated(resource)
    assert e.value.message_dict["quantity"] == [
        f'Resource "{resource.name}": the quantity cannot be negative (-2.5).'
    ]


def test_a_closed_scheme_takes_no_new_grants(example):
    scheme = example.scheme
    scheme.closed = date(2100, 6, 30)
    save_validated(scheme)
    with pytest.raises(ValidationError) as e:
        create_grant(
            example.projects["ProjectB"],
            scheme,
            date(2100, 7, 1),
            date(2100, 12, 31),
            awarded=date(2100, 7, 1),
        )
    assert e.value.message_dict["scheme"] == [
        'Scheme "ET" closed on 2100-06-30 and takes no new grants.'
    ]


def test_an_open_scheme_takes_grants_and_grants_add_up_in_the_pool(example):
    grant = create_grant(
        example.projects["ProjectA"], example.scheme, date(2100, 7, 1), date(2100, 12, 31)
    )
    allocate(grant, example.period, example.pools["CPU Hours"], Decimal("12.5"))
    pools = {p.pool: p for p in project_pools(example.projects["ProjectA"], "2100")}
    assert pools["CPU Hours"].allocated == Decimal("72.5")


def test_a_pool_exists_once_per_project_period_and_resource_pool(example):
    with pytest.raises(ValidationError) as e:
        save_validated(
            AllocationPool(
                project=example.projects["ProjectA"],
                period=example.period,
                resource_pool=example.pools["CPU Hours"],
            )
        )
    assert e.value.messages == [
        'Project "ProjectA" already has a "CPU Hours" pool for period "2100"; add allocations '
        "to that pool instead."
    ]


def test_a_cap_needs_a_capped_parent(example):
    with pytest.raises(ValidationError) as e:
        save_validated(
            AllocationCap(
                project=example.projects["ProjectD"],
                resource_pool=example.pools["CPU Hours"],
                quantity=Decimal(10),
            )
        )
    assert e.value.message_dict["project"] == [
        'A cap on "ProjectD" means nothing: its parent "ProjectC" is not a capped project.'
    ]


def test_a_period_ends_after_it_starts(db):
    with pytest.raises(ValidationError) as e:
        save_validated(AllocationPeriod(name="bad", start=date(2100, 2, 1), end=date(2100, 1, 1)))
    assert e.value.message_dict["end"] == [
        'Period "bad" cannot end (2100-01-01) before it starts (2100-02-01).'
    ]


def test_a_pools_capacity_is_the_sum_of_scaled_resource_quantities(example):
    cpu = example.pools["CPU Hours"]
    expected = sum(r.quantity * r.scaling_factor for r in cpu.resources.all())
    assert cpu.capacity == expected == Decimal(256 * 8760) + Decimal(128 * 8760) * Decimal("1.5")
