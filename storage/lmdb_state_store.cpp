#include "storage/lmdb_state_store.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <new>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "protocol/codec.hpp"
#include "protocol/snapshot_format.hpp"
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
  s->cluster_ = opts.cluster_id;
  if (auto err = s->check_or_init(opts.cluster_id))
    return *err;
  s->load_partial();
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

storage_result<slot_t> lmdb_state_store::read_applied(lmdb::txn& t) const {
  auto k = lmdb::val(key_applied);
  MDB_val v;
  if (int rc = mdb_get(t.get(), meta_, &k, &v); rc != 0)
    return dir_->fail_lmdb("cannot read the applied slot", rc);
  auto slot = schema::decode_u64(lmdb::view(v));
  if (!slot)
    return dir_->fail(storage_errc::corrupt, "the applied slot is damaged");
  return *slot;
}

storage_result<slot_t> lmdb_state_store::applied() const {
  lmdb::txn t;
  if (int rc = t.begin(dir_->env(), true); rc != 0)
    return dir_->fail_lmdb("cannot begin a read transaction", rc);
  return read_applied(t);
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

// -- snapshots ------------------------------------------------------------------

namespace paxoskv {

namespace {

constexpr const char* incoming_data = "/incoming.pkvs";
constexpr const char* incoming_meta = "/incoming.meta";

bool write_all(int fd, std::string_view bytes, uint64_t offset) {
  while (!bytes.empty()) {
    auto n = ::pwrite(fd, bytes.data(), bytes.size(),
                      static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return false;
    bytes.remove_prefix(static_cast<size_t>(n));
    offset += static_cast<uint64_t>(n);
  }
  return true;
}

bool read_at(int fd, std::string& out, uint64_t offset, size_t len) {
  out.resize(len);
  size_t got = 0;
  while (got < len) {
    auto n = ::pread(fd, out.data() + got, len - got,
                     static_cast<off_t>(offset + got));
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return false;
    if (n == 0)
      break;
    got += static_cast<size_t>(n);
  }
  out.resize(got);
  return true;
}

/// Syncs a directory so that a rename or a new file in it is durable.
void sync_dir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

} // namespace

storage_error lmdb_state_store::io_fail(const std::string& what) const {
  int err = errno;
  return dir_->fail(err == ENOSPC ? storage_errc::map_full
                                  : storage_errc::io_error,
                    what + ": " + std::strerror(err)
                      + (err == ENOSPC ? " (the disk is full)" : ""));
}

std::map<slot_t, std::string> lmdb_state_store::kept() const {
  std::map<slot_t, std::string> out;
  auto& dir = dir_->options().dir;
  if (auto* d = ::opendir(dir.c_str())) {
    while (auto* e = ::readdir(d)) {
      std::string name = e->d_name;
      const std::string prefix = "snapshot-", suffix = ".pkvs";
      if (name.size() > prefix.size() + suffix.size()
          && name.compare(0, prefix.size(), prefix) == 0
          && name.compare(name.size() - suffix.size(), suffix.size(), suffix)
               == 0) {
        auto digits = name.substr(prefix.size(),
                                  name.size() - prefix.size() - suffix.size());
        if (digits.find_first_not_of("0123456789") == std::string::npos)
          out[std::stoull(digits)] = dir + "/" + name;
      }
    }
    ::closedir(d);
  }
  return out;
}

storage_result<snapshot_info>
lmdb_state_store::info_of(slot_t snapshot, const std::string& path) const {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return io_fail("cannot open " + path);
  struct stat st;
  std::string tail;
  bool ok = ::fstat(fd, &st) == 0 && st.st_size >= 8
            && read_at(fd, tail, static_cast<uint64_t>(st.st_size) - 8, 8);
  ::close(fd);
  uint64_t sum = 0;
  if (!ok || !snapshot::trailer_checksum(tail, sum))
    return dir_->fail(storage_errc::corrupt, "snapshot " + path
                                               + " is truncated");
  return snapshot_info{snapshot, static_cast<uint64_t>(st.st_size), sum};
}

storage_status lmdb_state_store::write_snapshot(slot_t& out) try {
  // One read transaction: a consistent state at one applied slot, taken
  // while the writer goes on committing.
  lmdb::txn t;
  if (int rc = t.begin(dir_->env(), true); rc != 0)
    return dir_->fail_lmdb("cannot begin a read transaction", rc);
  auto applied = read_applied(t);
  if (!applied)
    return applied.error();
  MDB_stat ms;
  if (int rc = mdb_stat(t.get(), records_, &ms); rc != 0)
    return dir_->fail_lmdb("cannot read the state", rc);
  auto& dir = dir_->options().dir;
  auto tmp = dir + "/snapshot.tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  if (fd < 0)
    return io_fail("cannot create " + tmp);
  std::string buf;
  uint64_t written = 0;
  bool ok = true;
  auto flush = [&] {
    ok = ok && write_all(fd, buf, written);
    written += buf.size();
    buf.clear();
  };
  snapshot::encoder enc(cluster_, applied.value(), ms.ms_entries,
                        [&](std::string_view b) {
                          buf.append(b.data(), b.size());
                          if (buf.size() >= (1 << 20))
                            flush();
                        });
  lmdb::cursor c;
  if (int rc = c.open(t.get(), records_); rc != 0) {
    ::close(fd);
    return dir_->fail_lmdb("cannot read the state", rc);
  }
  MDB_val key, value;
  int rc = mdb_cursor_get(c.get(), &key, &value, MDB_FIRST);
  for (; rc == 0; rc = mdb_cursor_get(c.get(), &key, &value, MDB_NEXT))
    enc.add(lmdb::view(key), lmdb::view(value));
  enc.finish();
  flush();
  if (rc != MDB_NOTFOUND || !ok || ::fsync(fd) != 0) {
    auto err = rc != MDB_NOTFOUND ? dir_->fail_lmdb("cannot read the state", rc)
                                  : io_fail("cannot write " + tmp);
    ::close(fd);
    ::unlink(tmp.c_str());
    return err;
  }
  ::close(fd);
  auto path = dir + "/snapshot-" + std::to_string(applied.value()) + ".pkvs";
  if (::rename(tmp.c_str(), path.c_str()) != 0)
    return io_fail("cannot rename " + tmp);
  sync_dir(dir);
  out = applied.value();
  return std::nullopt;
} catch (const std::bad_alloc&) {
  return dir_->fail(storage_errc::io_error, "out of memory taking a snapshot");
}

storage_result<snapshot_info>
lmdb_state_store::prepare_snapshot(slot_t wanted) {
  auto files = kept();
  if (wanted == 0 || files.count(wanted) == 0) {
    auto applied = this->applied();
    if (!applied)
      return applied.error();
    if (files.empty() || files.rbegin()->first < applied.value()) {
      slot_t made = 0;
      if (auto err = write_snapshot(made))
        return *err;
      files = kept();
      // The two newest are kept: a transfer of the older one may be
      // under way.
      while (files.size() > 2) {
        ::unlink(files.begin()->second.c_str());
        files.erase(files.begin());
      }
    }
    if (files.empty())
      return dir_->fail(storage_errc::io_error, "no snapshot could be made");
    wanted = files.rbegin()->first;
  }
  return info_of(wanted, files.at(wanted));
}

storage_result<std::string>
lmdb_state_store::read_snapshot(slot_t snapshot, uint64_t offset,
                                uint32_t max) {
  auto files = kept();
  auto i = files.find(snapshot);
  if (i == files.end())
    return dir_->fail(storage_errc::invalid_argument,
                      "snapshot " + std::to_string(snapshot)
                        + " is no longer kept");
  int fd = ::open(i->second.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return io_fail("cannot open " + i->second);
  std::string out;
  bool ok = read_at(fd, out, offset, max);
  ::close(fd);
  if (!ok)
    return io_fail("cannot read " + i->second);
  return out;
}

void lmdb_state_store::load_partial() {
  partial_.reset();
  auto& dir = dir_->options().dir;
  int fd = ::open((dir + incoming_meta).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return;
  std::string meta;
  read_at(fd, meta, 0, 64);
  ::close(fd);
  codec::reader r(meta);
  snapshot_transfer t;
  t.source = static_cast<node_id>(r.uint(4));
  t.snapshot = r.uint(8);
  t.total = r.uint(8);
  t.checksum = r.uint(8);
  struct stat st;
  if (!r.ok() || ::stat((dir + incoming_data).c_str(), &st) != 0)
    return;
  t.received = std::min<uint64_t>(static_cast<uint64_t>(st.st_size), t.total);
  auto applied = this->applied();
  if (applied && t.snapshot <= applied.value()) {
    // Installed already (the files outlived a crash right after): gone.
    ::unlink((dir + incoming_data).c_str());
    ::unlink((dir + incoming_meta).c_str());
    return;
  }
  partial_ = t;
}

std::optional<snapshot_transfer> lmdb_state_store::partial_snapshot() const {
  return partial_;
}

storage_status lmdb_state_store::store_chunk(const snapshot_chunk& c) {
  auto& dir = dir_->options().dir;
  auto data = dir + incoming_data;
  if (c.offset == 0) {
    // A new transfer: its name first, durably, then its bytes.
    std::string meta;
    codec::put_u32(meta, c.source);
    codec::put_u64(meta, c.snapshot);
    codec::put_u64(meta, c.total);
    codec::put_u64(meta, c.checksum);
    auto tmp = dir + "/incoming.meta.tmp";
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
                    0640);
    if (fd < 0)
      return io_fail("cannot create " + tmp);
    bool ok = write_all(fd, meta, 0) && ::fsync(fd) == 0;
    ::close(fd);
    if (!ok)
      return io_fail("cannot write " + tmp);
    ::unlink(data.c_str());
    if (::rename(tmp.c_str(), (dir + incoming_meta).c_str()) != 0)
      return io_fail("cannot rename " + tmp);
    sync_dir(dir);
    partial_ = snapshot_transfer{c.source, c.snapshot, c.total, c.checksum, 0};
  } else if (!partial_ || partial_->snapshot != c.snapshot
             || partial_->received != c.offset) {
    return dir_->fail(storage_errc::invalid_argument,
                      "a snapshot chunk that does not continue the transfer");
  }
  int fd = ::open(data.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0)
    return io_fail("cannot open " + data);
  bool ok = write_all(fd, c.data, c.offset) && ::fdatasync(fd) == 0;
  ::close(fd);
  if (!ok)
    return io_fail("cannot write " + data);
  if (c.offset == 0)
    sync_dir(dir);
  partial_->received = c.offset + c.data.size();
  return std::nullopt;
}

storage_status lmdb_state_store::install_snapshot(state_machine& sm) try {
  if (!partial_ || partial_->received != partial_->total)
    return dir_->fail(storage_errc::invalid_argument,
                      "no complete snapshot received");
  auto& dir = dir_->options().dir;
  auto data = dir + incoming_data;
  int fd = ::open(data.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return io_fail("cannot open " + data);
  auto size = static_cast<size_t>(partial_->total);
  void* map = size > 0 ? ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0)
                       : MAP_FAILED;
  ::close(fd);
  if (map == MAP_FAILED)
    return io_fail("cannot map " + data);
  std::string_view stream(static_cast<const char*>(map), size);
  uint64_t sum = 0;
  storage_status result;
  if (!snapshot::trailer_checksum(stream, sum) || sum != partial_->checksum)
    result = dir_->fail(storage_errc::corrupt,
                        "the received snapshot does not match its checksum");
  else if (auto err = snapshot::decode_into(stream, cluster_, sm);
           !err.empty())
    result = dir_->fail(storage_errc::corrupt, err);
  ::munmap(map, size);
  if (result)
    return result;
  // Every record and the applied slot, replaced in one transaction.
  lmdb::txn t;
  if (int rc = t.begin(dir_->env(), false); rc != 0)
    return dir_->fail_lmdb("cannot begin a write transaction", rc);
  int rc = mdb_drop(t.get(), records_, 0);
  sm.save([&](std::string_view key, std::string_view value) {
    if (rc != 0)
      return;
    auto k = lmdb::val(key);
    auto v = lmdb::val(value);
    rc = mdb_put(t.get(), records_, &k, &v, 0);
  });
  if (rc == 0) {
    auto applied = schema::encode_u64(sm.applied());
    auto k = lmdb::val(key_applied);
    auto v = lmdb::val(applied);
    rc = mdb_put(t.get(), meta_, &k, &v, 0);
  }
  if (rc != 0 || (rc = t.commit()) != 0) {
    sm.begin_load(0);
    return dir_->fail_lmdb("cannot install the snapshot", rc);
  }
  ::unlink(data.c_str());
  ::unlink((dir + incoming_meta).c_str());
  partial_.reset();
  return std::nullopt;
} catch (const std::bad_alloc&) {
  sm.begin_load(0);
  return dir_->fail(storage_errc::io_error,
                    "out of memory installing a snapshot");
}

} // namespace paxoskv
