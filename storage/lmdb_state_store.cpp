#include "storage/lmdb_state_store.hpp"

#include <new>

#include "storage/schema.hpp"

namespace paxoskv {

namespace {

constexpr uint32_t state_format_version = 1;
constexpr const char* key_applied = "applied";

} // namespace

storage_result<std::unique_ptr<lmdb_state_store>>
lmdb_state_store::open(const lmdb_state_options& opts) {
  std::unique_ptr<lmdb_state_store> s(new lmdb_state_store);
  lmdb_dir_options d;
  d.dir = opts.dir;
  d.create_dir = true;
  d.map_size_bytes = opts.map_size_bytes;
  d.what = "state directory";
  auto dir = lmdb_dir::open(d);
  if (!dir)
    return dir.error();
  s->dir_ = std::move(dir.value());
  if (auto err = s->check_or_init(opts.cluster_id))
    return *err;
  return s;
}

storage_status lmdb_state_store::check_or_init(const std::string& cluster_id) {
  lmdb::txn t;
  if (int rc = t.begin(dir_->env(), false); rc != 0)
    return dir_->fail_lmdb("cannot begin a transaction", rc);
  int rc;
  if ((rc = mdb_dbi_open(t.get(), schema::meta_db, MDB_CREATE, &meta_)) != 0
      || (rc = mdb_dbi_open(t.get(), "records", MDB_CREATE, &records_)) != 0)
    return dir_->fail_lmdb("cannot open its databases", rc);
  auto get = [&](const char* key) -> std::optional<std::string> {
    auto k = lmdb::val(key);
    MDB_val v;
    if (mdb_get(t.get(), meta_, &k, &v) != 0)
      return std::nullopt;
    return std::string(lmdb::view(v));
  };
  auto put = [&](const char* key, const std::string& value) {
    auto k = lmdb::val(key);
    auto v = lmdb::val(value);
    return mdb_put(t.get(), meta_, &k, &v, 0);
  };
  auto version = get(schema::key_format_version);
  if (!version) {
    if ((rc = put(schema::key_format_version,
                  schema::encode_u32(state_format_version)))
          != 0
        || (rc = put(schema::key_cluster_id, cluster_id)) != 0
        || (rc = put(key_applied, schema::encode_u64(0))) != 0)
      return dir_->fail_lmdb("cannot initialise", rc);
  } else {
    auto v = schema::decode_u32(*version);
    if (!v)
      return dir_->fail(storage_errc::corrupt,
                        "the format version record is damaged");
    if (*v != state_format_version)
      return dir_->fail(storage_errc::unsupported_format,
                        "written in state format version " + std::to_string(*v)
                          + "; this paxoskv reads version "
                          + std::to_string(state_format_version));
    auto cluster = get(schema::key_cluster_id);
    if (!cluster)
      return dir_->fail(storage_errc::corrupt, "the cluster id is missing");
    if (*cluster != cluster_id)
      return dir_->fail(storage_errc::wrong_cluster,
                        "belongs to cluster '" + *cluster + "', not '"
                          + cluster_id + "'");
  }
  if ((rc = t.commit()) != 0)
    return dir_->fail_lmdb("cannot open", rc);
  return std::nullopt;
}

storage_result<slot_t> lmdb_state_store::applied() const {
  lmdb::txn t;
  if (int rc = t.begin(dir_->env(), true); rc != 0)
    return dir_->fail_lmdb("cannot begin a read transaction", rc);
  auto k = lmdb::val(key_applied);
  MDB_val v;
  if (int rc = mdb_get(t.get(), meta_, &k, &v); rc != 0)
    return dir_->fail_lmdb("cannot read the applied slot", rc);
  auto slot = schema::decode_u64(lmdb::view(v));
  if (!slot)
    return dir_->fail(storage_errc::corrupt, "the applied slot is damaged");
  return *slot;
}

storage_status lmdb_state_store::load(state_machine& sm) const try {
  auto applied = this->applied();
  if (!applied)
    return applied.error();
  lmdb::txn t;
  if (int rc = t.begin(dir_->env(), true); rc != 0)
    return dir_->fail_lmdb("cannot begin a read transaction", rc);
  lmdb::cursor c;
  if (int rc = c.open(t.get(), records_); rc != 0)
    return dir_->fail_lmdb("cannot read the state", rc);
  sm.begin_load(applied.value());
  MDB_val key, value;
  int rc = mdb_cursor_get(c.get(), &key, &value, MDB_FIRST);
  for (; rc == 0; rc = mdb_cursor_get(c.get(), &key, &value, MDB_NEXT))
    if (!sm.load_record(lmdb::view(key), lmdb::view(value))) {
      sm.begin_load(0);
      return dir_->fail(storage_errc::corrupt,
                        "a state record does not decode");
    }
  if (rc != MDB_NOTFOUND) {
    sm.begin_load(0);
    return dir_->fail_lmdb("cannot read the state", rc);
  }
  if (!sm.end_load()) {
    sm.begin_load(0);
    return dir_->fail(storage_errc::corrupt, "the state records disagree");
  }
  return std::nullopt;
} catch (const std::bad_alloc&) {
  sm.begin_load(0);
  return dir_->fail(storage_errc::io_error, "out of memory while loading");
}

storage_status lmdb_state_store::commit(const state_write& w) try {
  lmdb::txn t;
  if (int rc = t.begin(dir_->env(), false); rc != 0)
    return dir_->fail_lmdb("cannot begin a write transaction", rc);
  int rc = 0;
  for (auto i = w.records.begin(); rc == 0 && i != w.records.end(); ++i) {
    auto k = lmdb::val(i->first);
    if (i->second) {
      auto v = lmdb::val(*i->second);
      rc = mdb_put(t.get(), records_, &k, &v, 0);
    } else {
      rc = mdb_del(t.get(), records_, &k, nullptr);
      if (rc == MDB_NOTFOUND)
        rc = 0;
    }
  }
  if (rc == 0) {
    auto applied = schema::encode_u64(w.applied);
    auto k = lmdb::val(key_applied);
    auto v = lmdb::val(applied);
    rc = mdb_put(t.get(), meta_, &k, &v, 0);
  }
  if (rc != 0)
    return dir_->fail_lmdb("cannot write the state", rc);
  if ((rc = t.commit()) != 0)
    return dir_->fail_lmdb("cannot commit the state", rc);
  return std::nullopt;
} catch (const std::bad_alloc&) {
  return dir_->fail(storage_errc::io_error, "out of memory while committing");
}

} // namespace paxoskv
