"""jaxconv._einsum.contract: jnp.einsum's result, with the patches contracted in place."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxconv._einsum import contract

SPECS = [
    ("n...ki,kio->n...o", (2, 5, 6, 9, 4), (9, 4, 3)),
    ("n...i,io->n...o", (2, 5, 4), (4, 3)),
    ("n...gi,igo->n...go", (2, 5, 6, 3, 4), (4, 3, 2)),
    ("bn...ki,kibo->n...bo", (2, 3, 5, 9, 4), (9, 4, 2, 3)),
    ("n...kl,klp->n...p", (2, 5, 3, 6), (3, 6, 7)),
    ("nchw,co->nohw", (2, 4, 5, 6), (4, 3)),
    ("n...kc,...cko->n...o", (2, 5, 6, 9, 4), (5, 6, 4, 9, 3)),
    ("n...c,cko->n...ko", (2, 5, 6, 4), (4, 9, 3)),
    ("ij,ij->i", (3, 4), (3, 4)),  # batch only
]


@pytest.mark.parametrize("spec, a_shape, b_shape", SPECS, ids=[s[0] for s in SPECS])
def test_contract_is_einsum(spec, a_shape, b_shape):
    rng = np.random.default_rng(0)
    a = rng.standard_normal(a_shape).astype(np.float64)
    b = rng.standard_normal(b_shape).astype(np.float64)
    expected = np.einsum(spec, a, b)
    with jax.enable_x64(True):
        got = contract(spec, jnp.asarray(a), jnp.asarray(b))
        assert got.shape == expected.shape
        np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-12, atol=1e-12)


def test_contract_keeps_the_patches_in_place():
    """The contracted axes in the patches' own order: no transpose of the large operand."""
    patches = jax.ShapeDtypeStruct((2, 16, 16, 25, 32), jnp.float32)
    w = jax.ShapeDtypeStruct((25, 32, 8), jnp.float32)
    jaxpr = jax.make_jaxpr(lambda p, w: contract("n...ki,kio->n...o", p, w))(patches, w)
    (eqn,) = jaxpr.eqns
    assert eqn.primitive.name == "dot_general"
    (lhs_contract, rhs_contract), _ = eqn.params["dimension_numbers"]
    assert tuple(lhs_contract) == (3, 4) and tuple(rhs_contract) == (0, 1)


def test_contract_falls_back_on_mixed_dtypes():
    a = jnp.ones((2, 3), jnp.float32)
    b = jnp.ones((3, 4), jnp.bfloat16)
    got = contract("ij,jk->ik", a, b)
    assert got.dtype == jnp.einsum("ij,jk->ik", a, b).dtype
    np.testing.assert_array_equal(np.asarray(got, np.float32), np.full((2, 4), 3.0, np.float32))
