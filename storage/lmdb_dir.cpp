#include "storage/lmdb_dir.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <new>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

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

storage_error lmdb_dir::fail(storage_errc code,
                               const std::string& what) const {
  return storage_error{code, what_ + " " + opts_.dir + ": " + what};
}

storage_error lmdb_dir::fail_lmdb(const std::string& what, int rc) const {
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

storage_result<std::unique_ptr<lmdb_dir>>
lmdb_dir::open(const lmdb_dir_options& opts) {
  std::unique_ptr<lmdb_dir> s(new lmdb_dir);
  s->opts_ = opts;
  s->what_ = opts.what;
  if (opts.dir.empty())
    return storage_error{storage_errc::invalid_argument,
                         "no " + opts.what + " given"};
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
  // Named databases; MDB_NOTLS because actors may read from any thread.
  // The flags deliberately leave LMDB's full sync on.
  if (int rc = mdb_env_set_maxdbs(e, opts.max_dbs); rc != 0)
    return s->fail_lmdb("cannot configure LMDB", rc);
  if (int rc = mdb_env_set_mapsize(e, opts.map_size_bytes); rc != 0)
    return s->fail_lmdb("cannot set the map size", rc);
  if (int rc = mdb_env_open(e, opts.dir.c_str(), MDB_NOTLS, 0640); rc != 0)
    return s->fail_lmdb("cannot open", rc);
  return s;
}

storage_status lmdb_dir::lock_directory() {
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

lmdb_dir::~lmdb_dir() {
  env_.reset();
  if (lock_fd_ >= 0)
    ::close(lock_fd_); // Releases the flock.
}

} // namespace paxoskv
