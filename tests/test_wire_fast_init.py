"""OperationUpdate and Operation get a faster ``__init__``: it must be attrs' in all but speed."""

from __future__ import annotations

import inspect
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestra.wire import models
from orchestra.wire.models import (
    ATTRS_INITS,
    ContextDetails,
    Operation,
    OperationUpdate,
    StepDetails,
)

FAST = [OperationUpdate, Operation, StepDetails, ContextDetails]
values = (
    st.none() | st.text(max_size=5) | st.integers() | st.sampled_from(list(models.OperationType))
)


@pytest.mark.parametrize("cls", FAST)
def test_the_signature_is_attrs_own(cls: type) -> None:
    assert inspect.signature(cls.__init__) == inspect.signature(ATTRS_INITS[cls])
    assert cls.__init__ is not ATTRS_INITS[cls]  # (the faster one is installed)


@pytest.mark.parametrize("cls", FAST)
@given(data=st.data())
def test_an_instance_is_the_one_attrs_builds_by_position_and_by_keyword(
    cls: type, data: st.DataObject
) -> None:
    fields = attrs.fields(cls)
    given_count = data.draw(
        st.integers(len([f for f in fields if f.default is attrs.NOTHING]), len(fields))
    )
    args = [data.draw(values) for _ in range(given_count)]
    reference = object.__new__(cls)
    ATTRS_INITS[cls](reference, *args)
    assert cls(*args) == reference
    kwargs = {f.name: a for f, a in zip(fields, args, strict=False)}
    assert cls(**kwargs) == reference
    assert attrs.asdict(cls(**kwargs), recurse=False) == attrs.asdict(reference, recurse=False)


@pytest.mark.parametrize("cls", FAST)
def test_it_refuses_what_attrs_refuses(cls: type) -> None:
    fields = attrs.fields(cls)
    required = [f for f in fields if f.default is attrs.NOTHING]
    if required:
        with pytest.raises(TypeError):
            cls()  # the required fields are missing
    with pytest.raises(TypeError):
        cls(*([None] * len(required)), nonsense=1)
    with pytest.raises(TypeError):
        cls(*([None] * (len(fields) + 1)))


@pytest.mark.parametrize("cls", FAST)
def test_instances_stay_frozen(cls: type) -> None:
    fields = attrs.fields(cls)
    required = [f for f in fields if f.default is attrs.NOTHING]
    instance: Any = cls(*(["x"] * len(required)))
    first = fields[0].name
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        setattr(instance, first, "changed")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        delattr(instance, first)
    assert getattr(attrs.evolve(instance, **{first: "other"}), first) == "other"


def test_a_class_with_a_validated_field_gets_no_fast_init() -> None:
    @attrs.frozen
    class Checked:
        value: int = attrs.field(validator=attrs.validators.instance_of(int))

    with pytest.raises(ImportError, match=r"Checked\.value is not plain"):
        models._fast_init(Checked)
