"""Databases through the real Trove client (issue 4; trove-wire §4, §5), checked in
information_schema."""

import pytest

import harness
from harness import expect_end, expect_exc, make_db

DB_KEYS = {"_name", "_character_set", "_collate"}


def trove_databases(dbs):
    """The create_database argument exactly as Trove's API builds it."""
    from trove.extensions.common.common import populate_validated_databases
    return populate_validated_databases(dbs)


def full_db_list(api):
    items, next_marker = api.list_databases(limit=100000)
    assert next_marker is None
    return items


# --------------------------------------------------------------------------- create_database

def test_create_database_with_charset_and_collation(agent, trove, db, names):
    d = names.db("cc")
    rid = trove.cast_create_database(trove_databases(
        [{"name": d, "character_set": "utf8mb4", "collate": "utf8mb4_unicode_ci"}]))
    expect_end(trove, rid, trove.conductor.wait_outcome(rid))
    assert db.schema_charset(d) == ("utf8mb4", "utf8mb4_unicode_ci")


def test_create_database_charset_only_takes_its_default_collation(agent, trove, db, names):
    d = names.db("co")
    rid = trove.cast_create_database(trove_databases([{"name": d, "character_set": "latin1"}]))
    expect_end(trove, rid, trove.conductor.wait_outcome(rid))
    assert db.schema_charset(d) == ("latin1", db.default_collation("latin1"))


def test_a_collation_of_several_character_sets_never_stops_the_agent(agent, trove, api, db, names):
    """MariaDB 10.10's `uca1400_ai_ci` belongs to no one character set
    (information_schema.COLLATIONS has NULL there): with a character set it
    is mysqld's to check; without one it is refused; the agent serves on."""
    if not db.scalar("SELECT COUNT(*) FROM information_schema.COLLATIONS "
                     "WHERE COLLATION_NAME = 'uca1400_ai_ci' AND CHARACTER_SET_NAME IS NULL"):
        pytest.skip("this server has no collation of several character sets")
    alone = names.db("ua")
    rid = trove.cast_create_database([{"_name": alone, "_collate": "uca1400_ai_ci",
                                      "_character_set": None}])
    expect_exc(trove, rid, trove.conductor.wait_outcome(rid))
    assert db.schema_charset(alone) is None
    both = names.db("ub")
    rid = trove.cast_create_database([{"_name": both, "_collate": "uca1400_ai_ci",
                                      "_character_set": "utf8mb4"}])
    expect_end(trove, rid, trove.conductor.wait_outcome(rid))
    assert db.schema_charset(both)[0] == "utf8mb4"
    assert api.rpc_ping() is True


def test_create_database_without_charset_takes_server_default(agent, trove, db, names):
    d = names.db("nd")
    rid = trove.cast_create_database(trove_databases([{"name": d}]))
    expect_end(trove, rid, trove.conductor.wait_outcome(rid))
    assert db.schema_charset(d) == db.server_default_charset()


def test_create_several_databases_in_one_cast(agent, trove, db, names):
    ds = [names.db("m1"), names.db("m2"), names.db("m-3")]
    rid = trove.cast_create_database(trove_databases([{"name": d} for d in ds]))
    expect_end(trove, rid, trove.conductor.wait_outcome(rid))
    assert all(db.database_exists(d) for d in ds)


def test_create_database_name_of_64_characters(agent, trove, db, names):
    d = names.db("x" * (64 - len(names.db(""))))
    assert len(d) == 64
    rid = trove.cast_create_database([harness.db_dict(d)])
    expect_end(trove, rid, trove.conductor.wait_outcome(rid))
    assert db.database_exists(d)


# --------------------------------------------------------------------------- list_databases

@pytest.fixture
def three_dbs(db, names):
    ds = [(names.db("la"), "latin1", "latin1_bin"), (names.db("lb"), "utf8mb4", None),
          (names.db("lc"), None, None)]
    for d, cs, co in ds:
        make_db(db, d, cs, co)
    return [d for d, _, _ in ds]


def test_list_databases_shape_and_system_schemas_hidden(agent, api, db, names, three_dbs):
    result = api.list_databases(limit=100000)
    assert isinstance(result, list) and len(result) == 2, result
    items, next_marker = result
    assert next_marker is None
    for d in items:
        assert isinstance(d, dict) and set(d) == DB_KEYS, d
        assert isinstance(d["_character_set"], str) and d["_character_set"], d
        assert isinstance(d["_collate"], str) and d["_collate"], d
    listed = [d["_name"] for d in items]
    for s in harness.SYSTEM_SCHEMAS:
        assert s not in listed, f"system schema {s} listed"
    ours = [d for d in items if d["_name"].startswith(names.tag)]
    assert [d["_name"] for d in ours] == three_dbs
    for d in ours:
        assert (d["_character_set"], d["_collate"]) == db.schema_charset(d["_name"]), d
    i = listed.index(three_dbs[0])
    assert listed[i:i + 3] == three_dbs, "databases not sorted by name"
    # Trove's own consumer accepts it (extensions/common/models.py Schemas).
    from trove.extensions.common.models import Schemas
    models, _ = Schemas.load_with_client(api, 100000, None, False)
    assert [m.name for m in models if m.name.startswith(names.tag)] == three_dbs


def test_list_databases_without_limit_lists_everything(agent, api, three_dbs):
    items, next_marker = api.list_databases()
    assert next_marker is None
    assert [d["_name"] for d in items] == [d["_name"] for d in full_db_list(api)]


def test_list_databases_paging(agent, api, names, three_dbs):
    everything = [d["_name"] for d in full_db_list(api)]
    i = everything.index(three_dbs[0])
    assert everything[i:i + 3] == three_dbs

    items, nm = api.list_databases(limit=2, marker=names.tag)
    assert [d["_name"] for d in items] == three_dbs[:2]
    assert nm == three_dbs[1]
    items, nm = api.list_databases(limit=2, marker=nm)
    assert [d["_name"] for d in items] == three_dbs[2:] + everything[i + 3:i + 4]
    items, nm = api.list_databases(limit=2, marker=three_dbs[1], include_marker=True)
    assert [d["_name"] for d in items] == three_dbs[1:3]
    assert nm == three_dbs[2]
    items, nm = api.list_databases(limit=1, marker=three_dbs[0], include_marker=False)
    assert [d["_name"] for d in items] == three_dbs[1:2] and nm == three_dbs[1]


def test_list_databases_end_of_list(agent, api, three_dbs):
    everything = [d["_name"] for d in full_db_list(api)]
    n, last = len(everything), everything[-1]
    items, nm = api.list_databases(limit=1, marker=last, include_marker=True)
    assert [d["_name"] for d in items] == [last] and nm is None
    items, nm = api.list_databases(limit=5, marker=last)
    assert items == [] and nm is None
    items, nm = api.list_databases(limit=n)
    assert len(items) == n and nm is None
    items, nm = api.list_databases(limit=n - 1)
    assert len(items) == n - 1 and nm == everything[n - 2]


def test_trove_find_database(agent, api, three_dbs):
    """How Trove's API looks a database up before deleting it (Schemas.find)."""
    from trove.extensions.common.models import Schemas
    found, _ = Schemas.load_with_client(api, 1, three_dbs[1], True)
    assert [m.name for m in found] == [three_dbs[1]]


# --------------------------------------------------------------------------- delete_database

def test_delete_database(agent, trove, db, names):
    d, other = names.db("del"), names.db("keep")
    make_db(db, d)
    make_db(db, other)
    from trove.common.db import models as guest_models
    rid = trove.cast_delete_database(guest_models.DatastoreSchema(name=d).serialize())
    expect_end(trove, rid, trove.conductor.wait_outcome(rid))
    assert not db.database_exists(d)
    assert db.database_exists(other)


# --------------------------------------------------------------------------- system schemas

@pytest.mark.parametrize("schema", harness.SYSTEM_SCHEMAS)
def test_delete_database_refuses_system_schemas(agent, trove, db, unchanged, schema):
    with unchanged(f"delete_database {schema}"):
        rid = trove.cast_delete_database(harness.db_dict(schema))
        expect_exc(trove, rid, trove.conductor.wait_outcome(rid))


@pytest.mark.parametrize("schema", harness.SYSTEM_SCHEMAS)
def test_create_database_refuses_system_schemas(agent, trove, unchanged, schema):
    with unchanged(f"create_database {schema}"):
        rid = trove.cast_create_database([harness.db_dict(schema)])
        expect_exc(trove, rid, trove.conductor.wait_outcome(rid))


@pytest.mark.parametrize("schema", ["mysql", "sys"])
def test_create_user_refuses_grants_on_system_schemas(agent, trove, names, unchanged, schema):
    u = names.user("sg")
    with unchanged(f"create_user with ALL on {schema}"):
        rid = trove.cast_create_user([harness.user_dict(u, password="Pw1234567890",
                                                        databases=[schema])])
        expect_exc(trove, rid, trove.conductor.wait_outcome(rid))
