"""pgvector's text form of a vector: each value names the float4 pgvector stores, exactly."""

from __future__ import annotations

import random

import numpy
import pytest

from services.common.vectors.store import vector_literal

pytestmark = pytest.mark.unit


def test_each_value_reads_back_as_the_float4_of_the_original() -> None:
    rng = random.Random(7)  # noqa: S311 - test data, not secrets
    for _ in range(500):
        vector = [rng.uniform(-1, 1) * 10 ** rng.randint(-9, 4) for _ in range(8)]
        text = vector_literal(vector)
        assert text.startswith("[") and text.endswith("]")
        back = numpy.array([float(v) for v in text[1:-1].split(",")], dtype=numpy.float32)
        assert back.tolist() == numpy.asarray(vector, dtype=numpy.float32).tolist()


def test_vectors_of_other_lengths_get_their_own_form() -> None:
    assert vector_literal([0.5, -2.0]) == "[0.5,-2]"
    assert vector_literal([0.25]) == "[0.25]"
    assert vector_literal([]) == "[]"
