"""Checkpoints: the state written packed (one array per dtype) and restored into its own tree, exactly."""

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
import pytest

from scaling import checkpoint
from scaling.config import ConfigError


def _state(width=4):
    rng = np.random.default_rng(0)
    return {"step": jnp.int32(7), "opt": (jnp.arange(3, dtype=jnp.int32), jnp.asarray(rng.normal(size=(width,)))),
            "params": {"kernel": jnp.asarray(rng.normal(size=(3, width)), jnp.float32),
                       "scale": jnp.asarray(rng.normal(size=(width,)), jnp.bfloat16)}}


def _abstract(state):
    return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding), state)


def test_a_state_round_trips_exactly_from_one_array_per_dtype(tmp_path):
    state = _state()
    checkpoint.save(tmp_path, 1, state, {"history": [1]})
    checkpoint.save(tmp_path, 2, state, {"history": [1, 2]})
    step, restored, meta = checkpoint.restore_latest(tmp_path, _abstract(state))
    assert step == 2 and meta == {"history": [1, 2]}
    assert jax.tree.structure(restored) == jax.tree.structure(state)
    for a, b in zip(jax.tree.leaves(state), jax.tree.leaves(restored), strict=True):
        assert b.dtype == a.dtype and b.shape == a.shape and b.sharding == a.sharding
        np.testing.assert_array_equal(np.asarray(b), np.asarray(a))
    # No two leaves share a buffer: the train step donates every one of them.
    pointers = [leaf.unsafe_buffer_pointer() for leaf in jax.tree.leaves(restored)]
    assert len(set(pointers)) == len(pointers)
    # What Orbax holds: one flat vector per dtype (a leaf costs about 1 ms to write), the latest step only.
    written = ocp.StandardCheckpointer().metadata(tmp_path / "2" / "state").item_metadata
    assert sorted(written) == ["bfloat16", "float32", "int32"]
    assert [m.shape for m in written.values()] == [(4,), (3 * 4 + 4,), (1 + 3,)]
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.isdigit()) == ["2"]


def test_a_checkpoint_of_another_network_is_a_one_line_error(tmp_path):
    checkpoint.save(tmp_path, 1, _state(width=4), {})
    with pytest.raises(ConfigError, match="another network's state: delete it to train this run from the start"):
        checkpoint.restore_latest(tmp_path, _abstract(_state(width=5)))


def test_a_checkpoint_written_before_packing_restores_as_written(tmp_path):
    """The earlier layout, Orbax's own tree of one array per leaf: a run started before packing resumes."""
    state = _state()
    options = ocp.CheckpointManagerOptions(create=True)
    with ocp.CheckpointManager(tmp_path.absolute(), options=options, item_names=("state", "meta")) as mgr:
        mgr.save(3, args=ocp.args.Composite(state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave({"a": 1})))
    step, restored, meta = checkpoint.restore_latest(tmp_path, _abstract(state))
    assert step == 3 and meta == {"a": 1}
    assert jax.tree.structure(restored) == jax.tree.structure(state)
    for a, b in zip(jax.tree.leaves(state), jax.tree.leaves(restored), strict=True):
        assert b.dtype == a.dtype
        np.testing.assert_array_equal(np.asarray(b), np.asarray(a))


def test_no_checkpoint_restores_none(tmp_path):
    assert checkpoint.restore_latest(tmp_path / "absent", _abstract(_state())) is None
    (tmp_path / "empty").mkdir()
    assert checkpoint.restore_latest(tmp_path / "empty", _abstract(_state())) is None
