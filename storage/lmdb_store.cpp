#include "storage/lmdb_store.hpp"

#include <new>
#include <random>

#include "storage/schema.hpp"

namespace paxoskv {

storage_result<std::unique_ptr<lmdb_store>>
lmdb_store::open(const lmdb_options& opts) {
  std::unique_ptr<lmdb_store> s(new lmdb_store);
  s->opts_ = opts;
  if (opts.cluster_id.empty() || opts.node == 0)
    return storage_error{storage_errc::invalid_argument,
                         "data directory " + opts.dir
                           + ": a cluster id and a node id (> 0) are required"};
  lmdb_dir_options d;
  d.dir = opts.dir;
  d.create_dir = opts.create_dir;
  d.map_size_bytes = opts.map_size_bytes;
  auto dir = lmdb_dir::open(d);
  if (!dir)
    return dir.error();
  s->dir_ = std::move(dir.value());
  if (auto err = s->check_or_init_meta())
    return *err;
  return s;
}

storage_error lmdb_store::fail(storage_errc code,
                               const std::string& what) const {
  return dir_->fail(code, what);
}

storage_error lmdb_store::fail_lmdb(const std::string& what, int rc) const {
  return dir_->fail_lmdb(what, rc);
}

lmdb_store::~lmdb_store() = default;

storage_status lmdb_store::check_or_init_meta() {
  lmdb::txn t;
  if (int rc = t.begin(dir_->env(), false); rc != 0)
    return fail_lmdb("cannot begin a transaction", rc);
  int rc = mdb_dbi_open(t.get(), schema::meta_db, 0, &meta_);
  if (rc == MDB_NOTFOUND) {
    // No paxoskv metadata: a new directory, unless LMDB data of some
    // other program is there.
    MDB_dbi main_db;
    MDB_stat stat;
    if ((rc = mdb_dbi_open(t.get(), nullptr, 0, &main_db)) != 0
        || (rc = mdb_stat(t.get(), main_db, &stat)) != 0)
      return fail_lmdb("cannot read", rc);
    if (stat.ms_entries > 0)
      return fail(storage_errc::foreign,
                  "holds an LMDB database paxoskv did not write");
    return init_meta(std::move(t));
  }
  if (rc != 0)
    return fail_lmdb("cannot open its metadata", rc);
  if ((rc = mdb_dbi_open(t.get(), schema::log_db, 0, &log_)) != 0)
    return rc == MDB_NOTFOUND
             ? fail(storage_errc::corrupt, "the acceptor log is missing")
             : fail_lmdb("cannot open the acceptor log", rc);
  if (auto err = check_meta(t))
    return err;
  if (auto err = read_or_draw_incarnation(t))
    return err;
  {
    auto k = lmdb::val(schema::key_origin);
    MDB_val v;
    if (mdb_get(t.get(), meta_, &k, &v) == 0)
      bootstrapped_ = lmdb::view(v) != "join";
  }
  // Directories from before chosen marks were kept apart get the database.
  if ((rc = mdb_dbi_open(t.get(), schema::marks_db, MDB_CREATE, &marks_)) != 0)
    return fail_lmdb("cannot open the chosen marks", rc);
  // Committing keeps the database handles open for later transactions.
  if ((rc = t.commit()) != 0)
    return fail_lmdb("cannot open", rc);
  return std::nullopt;
}

storage_status lmdb_store::init_meta(lmdb::txn t) {
  int rc;
  if ((rc = mdb_dbi_open(t.get(), schema::meta_db, MDB_CREATE, &meta_)) != 0
      || (rc = mdb_dbi_open(t.get(), schema::log_db, MDB_CREATE, &log_)) != 0
      || (rc = mdb_dbi_open(t.get(), schema::marks_db, MDB_CREATE, &marks_))
           != 0)
    return fail_lmdb("cannot create its databases", rc);
  auto put = [&](const char* key, const std::string& value) {
    auto k = lmdb::val(key);
    auto v = lmdb::val(value);
    return mdb_put(t.get(), meta_, &k, &v, 0);
  };
  if ((rc = put(schema::key_format_version,
                schema::encode_u32(schema::format_version)))
        != 0
      || (rc = put(schema::key_cluster_id, opts_.cluster_id)) != 0
      || (rc = put(schema::key_node_id, schema::encode_u32(opts_.node))) != 0
      || (rc = put(schema::key_origin, opts_.bootstrap ? "bootstrap" : "join"))
           != 0)
    return fail_lmdb("cannot initialise", rc);
  bootstrapped_ = opts_.bootstrap;
  if (auto err = read_or_draw_incarnation(t))
    return err;
  if ((rc = t.commit()) != 0)
    return fail_lmdb("cannot initialise", rc);
  created_ = true;
  return std::nullopt;
}

storage_status lmdb_store::read_or_draw_incarnation(lmdb::txn& t) {
  auto k = lmdb::val(schema::key_incarnation);
  MDB_val v;
  int rc = mdb_get(t.get(), meta_, &k, &v);
  if (rc == 0) {
    auto i = schema::decode_u64(lmdb::view(v));
    if (!i || *i == 0)
      return fail(storage_errc::corrupt, "the incarnation record is damaged");
    incarnation_ = *i;
    return std::nullopt;
  }
  if (rc != MDB_NOTFOUND)
    return fail_lmdb("cannot read the incarnation", rc);
  std::random_device rd;
  do
    incarnation_ = (uint64_t{rd()} << 32) ^ rd();
  while (incarnation_ == 0);
  auto bytes = schema::encode_u64(incarnation_);
  auto value = lmdb::val(bytes);
  if ((rc = mdb_put(t.get(), meta_, &k, &value, 0)) != 0)
    return fail_lmdb("cannot store the incarnation", rc);
  return std::nullopt;
}

storage_status lmdb_store::check_meta(lmdb::txn& t) {
  auto get = [&](const char* key) -> std::optional<std::string> {
    auto k = lmdb::val(key);
    MDB_val v;
    if (mdb_get(t.get(), meta_, &k, &v) != 0)
      return std::nullopt;
    return std::string(lmdb::view(v));
  };
  auto version_bytes = get(schema::key_format_version);
  auto version = version_bytes ? schema::decode_u32(*version_bytes)
                               : std::nullopt;
  if (!version)
    return fail(storage_errc::corrupt, "the format version record is missing "
                                       "or damaged");
  if (*version != schema::format_version)
    return fail(storage_errc::unsupported_format,
                "written in format version " + std::to_string(*version)
                  + "; this paxoskv reads version "
                  + std::to_string(schema::format_version));
  auto cluster = get(schema::key_cluster_id);
  if (!cluster)
    return fail(storage_errc::corrupt, "the cluster id record is missing");
  if (*cluster != opts_.cluster_id)
    return fail(storage_errc::wrong_cluster,
                "belongs to cluster '" + *cluster + "', not '"
                  + opts_.cluster_id + "'");
  auto node_bytes = get(schema::key_node_id);
  auto node = node_bytes ? schema::decode_u32(*node_bytes) : std::nullopt;
  if (!node)
    return fail(storage_errc::corrupt, "the node id record is missing or "
                                       "damaged");
  if (*node != opts_.node)
    return fail(storage_errc::wrong_node,
                "belongs to node " + std::to_string(*node) + ", not node "
                  + std::to_string(opts_.node));
  return std::nullopt;
}

storage_result<durable_state> lmdb_store::load() const try {
  lmdb::txn t;
  if (int rc = t.begin(dir_->env(), true); rc != 0)
    return fail_lmdb("cannot begin a read transaction", rc);
  durable_state state;
  auto k = lmdb::val(schema::key_promised);
  MDB_val v;
  int rc = mdb_get(t.get(), meta_, &k, &v);
  if (rc == 0) {
    auto b = schema::decode_ballot(lmdb::view(v));
    if (!b)
      return fail(storage_errc::corrupt, "the promised ballot is damaged");
    state.acceptor.promised = *b;
  } else if (rc != MDB_NOTFOUND) {
    return fail_lmdb("cannot read the promised ballot", rc);
  }
  k = lmdb::val(schema::key_proposer_round);
  rc = mdb_get(t.get(), meta_, &k, &v);
  if (rc == 0) {
    auto r = schema::decode_u64(lmdb::view(v));
    if (!r)
      return fail(storage_errc::corrupt, "the proposer round is damaged");
    state.proposer_round = *r;
  } else if (rc != MDB_NOTFOUND) {
    return fail_lmdb("cannot read the proposer round", rc);
  }
  if (auto err = load_u64(t, schema::key_log_start, state.acceptor.log_start))
    return *err;
  k = lmdb::val(schema::key_acceptor_configs);
  rc = mdb_get(t.get(), meta_, &k, &v);
  if (rc == 0) {
    auto h = decode_history(lmdb::view(v));
    if (!h)
      return fail(storage_errc::corrupt,
                  "the acceptor's configurations are damaged");
    state.acceptor.configs = std::move(*h);
  } else if (rc != MDB_NOTFOUND) {
    return fail_lmdb("cannot read the acceptor's configurations", rc);
  }
  if (auto err = load_log(t, state.acceptor))
    return *err;
  return state;
} catch (const std::bad_alloc&) {
  return fail(storage_errc::io_error, "out of memory while loading");
}

storage_status lmdb_store::load_log(lmdb::txn& t, acceptor_state& out) const {
  lmdb::cursor c;
  if (int rc = c.open(t.get(), log_); rc != 0)
    return fail_lmdb("cannot read the acceptor log", rc);
  MDB_val key, value;
  int rc = mdb_cursor_get(c.get(), &key, &value, MDB_FIRST);
  for (; rc == 0; rc = mdb_cursor_get(c.get(), &key, &value, MDB_NEXT)) {
    auto slot = schema::decode_slot(lmdb::view(key));
    auto entry = slot ? schema::decode_entry(*slot, lmdb::view(value))
                      : std::nullopt;
    if (!entry)
      return fail(storage_errc::corrupt, "an acceptor log entry is damaged");
    out.entries.emplace(*slot, std::move(*entry));
  }
  if (rc != MDB_NOTFOUND)
    return fail_lmdb("cannot read the acceptor log", rc);
  lmdb::cursor m;
  if ((rc = m.open(t.get(), marks_)) != 0)
    return fail_lmdb("cannot read the chosen marks", rc);
  rc = mdb_cursor_get(m.get(), &key, &value, MDB_FIRST);
  for (; rc == 0; rc = mdb_cursor_get(m.get(), &key, &value, MDB_NEXT)) {
    auto slot = schema::decode_slot(lmdb::view(key));
    if (!slot)
      return fail(storage_errc::corrupt, "a chosen mark is damaged");
    auto e = out.entries.find(*slot);
    if (e == out.entries.end())
      return fail(storage_errc::corrupt,
                  "a chosen mark has no entry (slot " + std::to_string(*slot)
                    + ")");
    e->second.chosen = true;
  }
  if (rc != MDB_NOTFOUND)
    return fail_lmdb("cannot read the chosen marks", rc);
  return std::nullopt;
}

storage_status lmdb_store::load_u64(lmdb::txn& t, const char* key,
                                    uint64_t& out) const {
  auto k = lmdb::val(key);
  MDB_val v;
  int rc = mdb_get(t.get(), meta_, &k, &v);
  if (rc == MDB_NOTFOUND)
    return std::nullopt;
  if (rc != 0)
    return fail_lmdb(std::string("cannot read ") + key, rc);
  auto x = schema::decode_u64(lmdb::view(v));
  if (!x)
    return fail(storage_errc::corrupt, std::string("the ") + key
                                         + " record is damaged");
  out = *x;
  return std::nullopt;
}

int lmdb_store::delete_below(lmdb::txn& t, MDB_dbi dbi, slot_t end) {
  lmdb::cursor c;
  if (int rc = c.open(t.get(), dbi); rc != 0)
    return rc;
  MDB_val key, value;
  int rc = mdb_cursor_get(c.get(), &key, &value, MDB_FIRST);
  for (; rc == 0; rc = mdb_cursor_get(c.get(), &key, &value, MDB_NEXT)) {
    auto slot = schema::decode_slot(lmdb::view(key));
    if (slot && *slot >= end)
      return 0;
    if ((rc = mdb_cursor_del(c.get(), 0)) != 0)
      return rc;
  }
  return rc == MDB_NOTFOUND ? 0 : rc;
}

storage_status lmdb_store::commit(const durable_batch& batch) try {
  if (batch.empty())
    return std::nullopt;
  lmdb::txn t;
  if (int rc = t.begin(dir_->env(), false); rc != 0)
    return fail_lmdb("cannot begin a write transaction", rc);
  auto put = [&](MDB_dbi dbi, std::string_view key, const std::string& value) {
    auto k = lmdb::val(key);
    auto v = lmdb::val(value);
    return mdb_put(t.get(), dbi, &k, &v, 0);
  };
  int rc = 0;
  if (batch.acceptor.promised)
    rc = put(meta_, schema::key_promised,
             schema::encode_ballot(*batch.acceptor.promised));
  // In the order acceptor_state::apply uses: entries (a later one for a
  // slot overwrites an earlier one), marks, then the log start.
  auto& w = batch.acceptor;
  for (auto i = w.entries.begin(); rc == 0 && i != w.entries.end(); ++i)
    rc = put(log_, schema::encode_slot(i->slot), schema::encode_entry(*i));
  for (auto i = w.chosen_marks.begin(); rc == 0 && i != w.chosen_marks.end();
       ++i)
    rc = put(marks_, schema::encode_slot(*i), std::string());
  if (rc == 0 && w.log_start) {
    rc = put(meta_, schema::key_log_start, schema::encode_u64(*w.log_start));
    if (rc == 0)
      rc = delete_below(t, log_, *w.log_start);
    if (rc == 0)
      rc = delete_below(t, marks_, *w.log_start);
  }
  if (rc == 0 && w.configs)
    rc = put(meta_, schema::key_acceptor_configs, encode_history(*w.configs));
  if (rc == 0 && batch.proposer_round)
    rc = put(meta_, schema::key_proposer_round,
             schema::encode_u64(*batch.proposer_round));
  if (rc != 0)
    return fail_lmdb("cannot write", rc); // `t` aborts: nothing stored.
  if ((rc = t.commit()) != 0)
    return fail_lmdb("cannot commit", rc);
  return std::nullopt;
} catch (const std::bad_alloc&) {
  return fail(storage_errc::io_error, "out of memory while committing");
}

} // namespace paxoskv
