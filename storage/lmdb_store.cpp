#include "storage/lmdb_store.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <new>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storage/schema.hpp"

namespace paxoskv {

std::string to_string(storage_errc x) {
  switch (x) {
    case storage_errc::missing_directory:
      return "missing_directory";
    case storage_errc::read_only:
      return "read_only";
    case storage_errc::in_use:
      return "in_use";
    case storage_errc::map_full:
      return "map_full";
    case storage_errc::corrupt:
      return "corrupt";
    case storage_errc::foreign:
      return "foreign";
    case storage_errc::unsupported_format:
      return "unsupported_format";
    case storage_errc::wrong_cluster:
      return "wrong_cluster";
    case storage_errc::wrong_node:
      return "wrong_node";
    case storage_errc::invalid_argument:
      return "invalid_argument";
    case storage_errc::io_error:
      return "io_error";
  }
  return "storage_errc(" + std::to_string(static_cast<int>(x)) + ")";
}

namespace {

constexpr uint64_t map_size_min = uint64_t{1} << 20;

bool is_permission_error(int err) {
  return err == EACCES || err == EPERM || err == EROFS;
}

std::string read_lock_owner(int fd) {
  char buf[32] = {0};
  auto n = ::pread(fd, buf, sizeof(buf) - 1, 0);
  std::string pid = n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
  while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' '))
    pid.pop_back();
  return pid.empty() ? "unknown" : pid;
}

} // namespace

storage_error lmdb_store::fail(storage_errc code,
                               const std::string& what) const {
  return storage_error{code, "data directory " + opts_.dir + ": " + what};
}

storage_error lmdb_store::fail_lmdb(const std::string& what, int rc) const {
  switch (rc) {
    case MDB_MAP_FULL:
      return fail(storage_errc::map_full,
                  "full: the map size of " + std::to_string(opts_.map_size_bytes)
                    + " bytes is reached; restart with a larger map size");
    case MDB_INVALID:
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
      return fail(storage_errc::corrupt,
                  what + ": not a valid LMDB environment (damaged, or "
                         "another program's files): "
                    + mdb_strerror(rc));
    case MDB_VERSION_MISMATCH:
      return fail(storage_errc::unsupported_format,
                  what + ": written by an incompatible LMDB version");
    case MDB_INCOMPATIBLE:
      return fail(storage_errc::foreign,
                  what + ": holds an LMDB database paxoskv did not write");
    default:
      if (is_permission_error(rc))
        return fail(storage_errc::read_only,
                    what + ": not writable: " + mdb_strerror(rc));
      return fail(storage_errc::io_error, what + ": " + mdb_strerror(rc));
  }
}

storage_result<std::unique_ptr<lmdb_store>>
lmdb_store::open(const lmdb_options& opts) {
  std::unique_ptr<lmdb_store> s(new lmdb_store);
  s->opts_ = opts;
  if (opts.dir.empty())
    return storage_error{storage_errc::invalid_argument,
                         "no data directory given"};
  if (opts.cluster_id.empty() || opts.node == 0)
    return s->fail(storage_errc::invalid_argument,
                   "a cluster id and a node id (> 0) are required");
  if (opts.map_size_bytes < map_size_min)
    return s->fail(storage_errc::invalid_argument,
                   "the map size must be at least 1 MiB");
  struct stat st;
  if (::stat(opts.dir.c_str(), &st) != 0) {
    int err = errno;
    if (is_permission_error(err))
      return s->fail(storage_errc::read_only,
                     std::string("not accessible: ") + std::strerror(err));
    if (err != ENOENT)
      return s->fail(storage_errc::io_error, std::strerror(err));
    if (!opts.create_dir)
      return s->fail(storage_errc::missing_directory, "does not exist");
    if (::mkdir(opts.dir.c_str(), 0750) != 0) {
      err = errno;
      return s->fail(err == ENOENT ? storage_errc::missing_directory
                     : is_permission_error(err) ? storage_errc::read_only
                                                : storage_errc::io_error,
                     std::string("cannot create it: ") + std::strerror(err));
    }
  } else if (!S_ISDIR(st.st_mode)) {
    return s->fail(storage_errc::invalid_argument, "is not a directory");
  }
  if (auto err = s->lock_directory())
    return *err;
  MDB_env* e = nullptr;
  if (int rc = mdb_env_create(&e); rc != 0)
    return s->fail_lmdb("cannot create an LMDB environment", rc);
  s->env_ = lmdb::env(e);
  // Two named databases; MDB_NOTLS because actors may read from any
  // thread. The flags deliberately leave LMDB's full sync on.
  if (int rc = mdb_env_set_maxdbs(e, 4); rc != 0)
    return s->fail_lmdb("cannot configure LMDB", rc);
  if (int rc = mdb_env_set_mapsize(e, opts.map_size_bytes); rc != 0)
    return s->fail_lmdb("cannot set the map size", rc);
  if (int rc = mdb_env_open(e, opts.dir.c_str(), MDB_NOTLS, 0640); rc != 0)
    return s->fail_lmdb("cannot open", rc);
  if (auto err = s->check_or_init_meta())
    return *err;
  return s;
}

storage_status lmdb_store::lock_directory() {
  auto path = opts_.dir + "/paxoskv.lock";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) {
    int err = errno;
    return fail(is_permission_error(err) ? storage_errc::read_only
                                         : storage_errc::io_error,
                std::string("cannot create its lock file: ")
                  + std::strerror(err));
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    auto owner = read_lock_owner(fd);
    ::close(fd);
    if (err == EWOULDBLOCK)
      return fail(storage_errc::in_use,
                  "in use by another process (pid " + owner + ")");
    return fail(storage_errc::io_error,
                std::string("cannot lock it: ") + std::strerror(err));
  }
  lock_fd_ = fd;
  auto pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) != 0
      || ::pwrite(fd, pid.data(), pid.size(), 0)
           != static_cast<ssize_t>(pid.size()))
    return fail(storage_errc::io_error, std::string("cannot write its lock "
                                                    "file: ")
                                          + std::strerror(errno));
  if (::access(opts_.dir.c_str(), W_OK) != 0)
    return fail(storage_errc::read_only, "not writable");
  return std::nullopt;
}

lmdb_store::~lmdb_store() {
  env_.reset();
  if (lock_fd_ >= 0)
    ::close(lock_fd_); // Releases the flock.
}

storage_status lmdb_store::check_or_init_meta() {
  lmdb::txn t;
  if (int rc = t.begin(env_.get(), false); rc != 0)
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
      || (rc = put(schema::key_node_id, schema::encode_u32(opts_.node))) != 0)
    return fail_lmdb("cannot initialise", rc);
  if ((rc = t.commit()) != 0)
    return fail_lmdb("cannot initialise", rc);
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
  if (int rc = t.begin(env_.get(), true); rc != 0)
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
  if (int rc = t.begin(env_.get(), false); rc != 0)
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
