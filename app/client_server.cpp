#include "app/client_server.hpp"

#include <algorithm>
#include <array>
#include <deque>
#include <functional>
#include <random>
#include <thread>

#include <boost/asio.hpp>
#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>

#include "actors/shell.hpp"
#include "actors/type_ids.hpp"

namespace paxoskv {

/// A command for the gateway actor, with the callback that gets its reply
/// (local only: it never leaves the process).
struct submit_msg {
  command cmd;
  read_level level = read_level::log;
  std::function<void(client_reply)> done;
};

/// A request for the INFO text (local only).
struct info_msg {
  /// The asking connection's read level.
  read_level level = read_level::leader;
  std::function<void(std::string)> done;
};

} // namespace paxoskv

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(paxoskv::submit_msg)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(paxoskv::info_msg)

namespace paxoskv {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

/// Passes client commands from Asio's thread to the local learner and the
/// replies back. A request that fails inside CAF (the learner is gone) may
/// still have been proposed: its outcome is unknown.
/// Collects the INFO text from the local roles, one after another.
struct info_state {
  std::string text;
  std::function<void(std::string)> done;
};

constexpr auto status_timeout = std::chrono::seconds(2);

/// The membership, as this process's directory knows it (the newest
/// configuration its roles announced).
void info_members(caf::event_based_actor* self, role_handles roles,
                  std::shared_ptr<info_state> st) {
  auto finish = [st] { st->done(st->text); };
  if (!roles.directory)
    return finish();
  self->request(roles.directory, status_timeout, members_atom_v)
    .then(
      [st, finish, node = roles.node](configuration& c) {
        std::string list;
        for (auto& m : c.members)
          list += (list.empty() ? "" : ",") + std::to_string(m.id)
                  + (m.voter ? ":voter" : ":learner");
        auto* me = c.find(node);
        st->text += "config_epoch:" + std::to_string(c.epoch)
                    + "\r\nconfig_members:" + list + "\r\nmember:"
                    + (me == nullptr ? "no" : me->voter ? "voter" : "learner")
                    + "\r\n";
        finish();
      },
      [finish](caf::error&) { finish(); });
}

void info_elector(caf::event_based_actor* self, role_handles roles,
                  std::shared_ptr<info_state> st) {
  auto finish = [self, roles, st] { info_members(self, roles, st); };
  if (!roles.elector)
    return finish();
  self->request(roles.elector, status_timeout, status_atom_v)
    .then(
      [st, finish](elector_status& e) {
        st->text += "leader:" + std::to_string(e.leader) + "\r\n";
        std::string peers;
        for (auto n : e.connected)
          peers += (peers.empty() ? "" : ",") + std::to_string(n);
        st->text += "peers_connected:" + peers + "\r\n";
        std::string heard;
        for (auto n : e.heard)
          heard += (heard.empty() ? "" : ",") + std::to_string(n);
        st->text += "electors_heard:" + heard + "\r\n";
        finish();
      },
      [finish](caf::error&) { finish(); });
}

void info_proposer(caf::event_based_actor* self, role_handles roles,
                   std::shared_ptr<info_state> st) {
  if (!roles.proposer)
    return info_elector(self, roles, st);
  self->request(roles.proposer, status_timeout, status_atom_v)
    .then(
      [self, roles, st](proposer_status& p) {
        st->text += std::string("role:")
                    + (p.phase == "leading" ? "leader" : "follower") + "\r\n"
                    + "proposer_phase:" + p.phase + "\r\n"
                    + "ballot:" + to_string(p.current_ballot) + "\r\n"
                    + "first_unchosen:" + std::to_string(p.first_unchosen)
                    + "\r\n" + "in_flight:" + std::to_string(p.in_flight)
                    + "\r\n" + "lease_ms_left:"
                    + std::to_string(p.lease_ms_left) + "\r\n";
        info_elector(self, roles, st);
      },
      [self, roles, st](caf::error&) { info_elector(self, roles, st); });
}

caf::behavior gateway_impl(caf::event_based_actor* self, role_handles roles) {
  auto learner = roles.learner;
  return {
    [=](info_msg& m) {
      auto st = std::make_shared<info_state>();
      st->done = std::move(m.done);
      st->text = "# Server\r\nredis_version:7.0.0\r\n# Paxos\r\n"
                 "node:"
                 + std::to_string(roles.node) + "\r\nread_level:"
                 + to_string(m.level) + "\r\n";
      self->request(learner, status_timeout, status_atom_v)
        .then(
          [self, roles, st](learner_status& l) {
            st->text += "applied_index:" + std::to_string(l.applied)
                        + "\r\ndurable_index:" + std::to_string(l.durable)
                        + "\r\nkeys:" + std::to_string(l.keys) + "\r\n";
            if (!l.state_error.empty())
              st->text += "state_error:" + l.state_error + "\r\n";
            // A snapshot transfer under way: where from, how far.
            auto pct = l.snapshot_total > 0
                         ? 100 * l.snapshot_received / l.snapshot_total
                         : 0;
            st->text += "snapshot_in_progress:"
                        + std::string(l.snapshot_source != 0 ? "1" : "0")
                        + "\r\n";
            if (l.snapshot_source != 0)
              st->text += "snapshot_source:"
                          + std::to_string(l.snapshot_source)
                          + "\r\nsnapshot_slot:"
                          + std::to_string(l.snapshot_slot)
                          + "\r\nsnapshot_bytes_total:"
                          + std::to_string(l.snapshot_total)
                          + "\r\nsnapshot_bytes_done:"
                          + std::to_string(l.snapshot_received)
                          + "\r\nsnapshot_percent:" + std::to_string(pct)
                          + "\r\n";
            info_proposer(self, roles, st);
          },
          [self, roles, st](caf::error&) { info_proposer(self, roles, st); });
    },
    [=](submit_msg& m) {
      auto done = std::move(m.done);
      auto id = std::make_pair(m.cmd.client_id, m.cmd.sequence);
      self
        ->request(learner, std::chrono::seconds(120),
                  client_request{std::move(m.cmd), m.level})
        .then([done](client_reply& r) { done(std::move(r)); },
              [done, id, self](caf::error& err) {
                done(client_reply{id.first, id.second,
                                  {result_kind::unknown,
                                   "outcome unknown: "
                                     + self->system().render(err),
                                   0}});
              });
    },
  };
}

std::string upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), ::toupper);
  return s;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), ::tolower);
  return s;
}

/// The RESP encoding of a state machine result.
std::string encode(const command_result& r) {
  std::string out;
  switch (r.kind) {
    case result_kind::ok:
      resp::append_simple(out, "OK");
      break;
    case result_kind::value:
      resp::append_bulk(out, r.text);
      break;
    case result_kind::nil:
      resp::append_nil(out);
      break;
    case result_kind::integer:
      resp::append_integer(out, r.number);
      break;
    case result_kind::array:
      resp::append_array_header(out, r.items.size());
      for (size_t i = 0; i < r.items.size(); ++i)
        if (i < r.present.size() && r.present[i])
          resp::append_bulk(out, r.items[i]);
        else
          resp::append_nil(out);
      break;
    case result_kind::error:
      resp::append_error(out, r.text);
      break;
    case result_kind::not_applied:
      resp::append_error(out, "TRYAGAIN not applied: " + r.text);
      break;
    case result_kind::unknown:
      resp::append_error(out, "TIMEOUT " + r.text);
      break;
  }
  return out;
}

std::string error_reply(const std::string& text) {
  std::string out;
  resp::append_error(out, text);
  return out;
}

} // namespace

struct client_server::impl {
  std::shared_ptr<asio::io_context> io = std::make_shared<asio::io_context>();
  tcp::acceptor acceptor{*io};
  std::thread thread;
  caf::actor gateway;
  learner_actor learner;
  client_server_config cfg;
  /// Client ids: 64 random bits from a generator seeded with 256 bits of
  /// the OS's randomness, so that sessions of different processes and
  /// restarts never share an id in practice.
  std::mt19937_64 ids = seeded_generator();

  static std::mt19937_64 seeded_generator() {
    std::random_device rd;
    std::seed_seq seq{rd(), rd(), rd(), rd(), rd(), rd(), rd(), rd()};
    return std::mt19937_64(seq);
  }
  /// Shared: a session may be destroyed after the server (its last
  /// handler can be held by a reply still on its way from CAF).
  std::shared_ptr<size_t> connections = std::make_shared<size_t>(0);

  void accept();
};

namespace {

class session : public std::enable_shared_from_this<session> {
public:
  session(tcp::socket s, client_server::impl& srv, uint64_t client_id)
    : sock_(std::move(s)),
      srv_(srv),
      io_(srv.io),
      parser_(srv.cfg.protocol),
      client_id_(client_id),
      connections_(srv.connections),
      authed_(srv.cfg.password.empty()),
      read_level_(srv.cfg.read),
      learner_(srv.learner),
      idle_(*srv.io) {
    ++*connections_;
  }

  ~session() {
    --*connections_;
    // The learner forgets the session and stops resending its commands.
    caf::anon_send(learner_, client_closed{client_id_});
  }

  void start() {
    arm_idle();
    read();
  }

private:
  struct slot {
    bool ready = false;
    bool close = false;
    std::string bytes;
  };

  void arm_idle() {
    if (srv_.cfg.idle_timeout.count() == 0)
      return;
    idle_.expires_after(srv_.cfg.idle_timeout);
    std::weak_ptr<session> weak = shared_from_this();
    idle_.async_wait([weak](const boost::system::error_code& ec) {
      if (auto s = weak.lock(); s && !ec)
        s->close();
    });
  }

  void close() {
    hold_.reset();
    boost::system::error_code ignored;
    sock_.shutdown(tcp::socket::shutdown_both, ignored);
    sock_.close(ignored);
    idle_.cancel();
  }

  void read() {
    if (reading_ || closing_)
      return;
    if (slots_.size() >= srv_.cfg.in_flight_max) {
      // Back-pressure: the socket is not read until replies drain. Nothing
      // else may hold the session meanwhile (replies hold it weakly), so it
      // holds itself; the reply that frees a slot reads on.
      hold_ = shared_from_this();
      return;
    }
    hold_.reset();
    reading_ = true;
    auto self = shared_from_this();
    sock_.async_read_some(
      asio::buffer(buf_), [self](const boost::system::error_code& ec, size_t n) {
        self->reading_ = false;
        if (ec)
          return; // Closed or reset: pending replies are dropped with it.
        self->arm_idle();
        self->parser_.feed(std::string_view(self->buf_.data(), n));
        self->drain();
        self->read();
      });
  }

  /// Handles every complete request in the parser, up to the window.
  void drain() {
    std::vector<std::string> req;
    std::string err;
    while (!closing_ && slots_.size() < srv_.cfg.in_flight_max) {
      auto r = parser_.next(req, err);
      if (r == resp::parser::result::incomplete)
        return;
      if (r == resp::parser::result::error) {
        // Like Redis: answer the error, then close this connection only.
        reply_now(error_reply("ERR " + err), true);
        return;
      }
      on_request(req);
    }
  }

  /// Adds a reply slot; returns its id.
  uint64_t push_slot() {
    slots_.emplace_back();
    return first_id_ + slots_.size() - 1;
  }

  void reply_now(std::string bytes, bool close_after = false) {
    complete(push_slot(), std::move(bytes), close_after);
  }

  void complete(uint64_t id, std::string bytes, bool close_after = false) {
    if (id < first_id_ || id - first_id_ >= slots_.size())
      return;
    auto& s = slots_[id - first_id_];
    s.ready = true;
    s.bytes = std::move(bytes);
    s.close = close_after;
    if (close_after)
      closing_ = true;
    flush();
  }

  /// Writes out every ready reply at the head, in request order.
  void flush() {
    if (writing_)
      return;
    bool close_after = false;
    while (!slots_.empty() && slots_.front().ready) {
      out_ += slots_.front().bytes;
      close_after = close_after || slots_.front().close;
      slots_.pop_front();
      ++first_id_;
      if (close_after)
        break;
    }
    if (out_.empty())
      return;
    writing_ = true;
    auto self = shared_from_this();
    asio::async_write(sock_, asio::buffer(out_),
                      [self, close_after](const boost::system::error_code& ec,
                                          size_t) {
                        self->writing_ = false;
                        self->out_.clear();
                        if (ec || close_after) {
                          self->close();
                          return;
                        }
                        self->flush();
                        self->drain();
                        self->read();
                      });

  }

  /// Sends a command through the log; the reply fills its slot.
  void submit(op_code op, std::vector<std::string> args) {
    auto id = push_slot();
    command cmd{client_id_, ++seq_, op, std::move(args)};
    std::weak_ptr<session> weak = shared_from_this();
    auto io = io_;
    caf::anon_send(srv_.gateway,
                   submit_msg{std::move(cmd), read_level_,
                              [weak, io, id](client_reply r) {
                                asio::post(*io, [weak, id, r = std::move(r)] {
                                  if (auto s = weak.lock())
                                    s->complete(id, encode(r.result));
                                });
                              }});
  }

  void on_request(std::vector<std::string>& req);
  bool check_values(const std::vector<std::string>& req, size_t first,
                    size_t step);

  tcp::socket sock_;
  client_server::impl& srv_;
  std::shared_ptr<asio::io_context> io_;
  resp::parser parser_;
  std::array<char, 16384> buf_;
  std::deque<slot> slots_;
  uint64_t first_id_ = 0;
  uint64_t client_id_;
  uint64_t seq_ = 0;
  std::shared_ptr<size_t> connections_;
  bool authed_;
  /// How this connection's read-only commands are served.
  read_level read_level_;
  bool reading_ = false;
  bool writing_ = false;
  bool closing_ = false;
  std::string out_;
  learner_actor learner_;
  /// Set while reading is paused for back-pressure (see read()).
  std::shared_ptr<session> hold_;
  asio::steady_timer idle_;
};

bool session::check_values(const std::vector<std::string>& req, size_t first,
                           size_t step) {
  for (size_t i = first; i < req.size(); i += step)
    if (req[i].size() > srv_.cfg.value_bytes_max) {
      reply_now(error_reply("ERR value too large (the limit is "
                            + std::to_string(srv_.cfg.value_bytes_max)
                            + " bytes)"));
      return false;
    }
  return true;
}

void session::on_request(std::vector<std::string>& req) {
  auto name = upper(req[0]);
  auto argc = req.size();
  auto arity_error = [&] {
    reply_now(error_reply("ERR wrong number of arguments for '"
                          + lower(req[0]) + "' command"));
  };
  if (name == "QUIT") {
    std::string ok;
    resp::append_simple(ok, "OK");
    reply_now(ok, true);
    return;
  }
  if (name == "AUTH") {
    if (argc != 2 && argc != 3)
      return arity_error();
    if (srv_.cfg.password.empty())
      return reply_now(error_reply(
        "ERR AUTH <password> called without any password configured"));
    if (req.back() != srv_.cfg.password)
      return reply_now(
        error_reply("WRONGPASS invalid username-password pair"));
    authed_ = true;
    std::string ok;
    resp::append_simple(ok, "OK");
    return reply_now(ok);
  }
  if (!authed_)
    return reply_now(error_reply("NOAUTH Authentication required."));
  std::string out;
  if (name == "PING") {
    if (argc > 2)
      return arity_error();
    if (argc == 2)
      resp::append_bulk(out, req[1]);
    else
      resp::append_simple(out, "PONG");
    return reply_now(out);
  }
  if (name == "ECHO") {
    if (argc != 2)
      return arity_error();
    resp::append_bulk(out, req[1]);
    return reply_now(out);
  }
  if (name == "READLEVEL") {
    // READLEVEL: this connection's level; READLEVEL log|leader|lease sets it.
    if (argc > 2)
      return arity_error();
    if (argc == 1) {
      resp::append_bulk(out, to_string(read_level_));
      return reply_now(out);
    }
    auto level = parse_read_level(lower(req[1]));
    if (!level)
      return reply_now(
        error_reply("ERR read level must be log, leader or lease"));
    read_level_ = *level;
    resp::append_simple(out, "OK");
    return reply_now(out);
  }
  if (name == "COMMAND") {
    // Enough for redis-cli to start: no command table.
    resp::append_array_header(out, 0);
    return reply_now(out);
  }
  if (name == "INFO") {
    auto id = push_slot();
    std::weak_ptr<session> weak = shared_from_this();
    auto io = io_;
    caf::anon_send(srv_.gateway, info_msg{read_level_,
                                          [weak, io, id](std::string text) {
                     asio::post(*io, [weak, id, text = std::move(text)] {
                       if (auto s = weak.lock()) {
                         std::string reply;
                         resp::append_bulk(reply, text);
                         s->complete(id, std::move(reply));
                       }
                     });
                   }});
    return;
  }
  if (name == "GET" || name == "STRLEN") {
    if (argc != 2)
      return arity_error();
    return submit(name == "GET" ? op_code::get : op_code::strlen,
                  {std::move(req[1])});
  }
  if (name == "SET") {
    if (argc < 3)
      return arity_error();
    auto op = op_code::set;
    for (size_t i = 3; i < argc; ++i) {
      auto opt = upper(req[i]);
      if (opt == "NX" && op == op_code::set)
        op = op_code::set_nx;
      else if (opt == "XX" && op == op_code::set)
        op = op_code::set_xx;
      else if (opt == "EX" || opt == "PX" || opt == "EXAT" || opt == "PXAT"
               || opt == "KEEPTTL")
        return reply_now(error_reply(
          "ERR expiry is not supported: it cannot be replicated "
          "deterministically"));
      else
        return reply_now(error_reply("ERR syntax error"));
    }
    if (!check_values(req, 2, argc))
      return;
    return submit(op, {std::move(req[1]), std::move(req[2])});
  }
  if (name == "DEL" || name == "EXISTS" || name == "MGET") {
    if (argc < 2)
      return arity_error();
    req.erase(req.begin());
    return submit(name == "DEL"      ? op_code::del
                  : name == "EXISTS" ? op_code::exists
                                     : op_code::mget,
                  std::move(req));
  }
  if (name == "MSET") {
    if (argc < 3 || argc % 2 == 0)
      return arity_error();
    if (!check_values(req, 2, 2))
      return;
    req.erase(req.begin());
    return submit(op_code::mset, std::move(req));
  }
  if (name == "INCR" || name == "DECR") {
    if (argc != 2)
      return arity_error();
    return submit(op_code::incrby,
                  {std::move(req[1]), name == "INCR" ? "1" : "-1"});
  }
  if (name == "INCRBY" || name == "DECRBY") {
    if (argc != 3)
      return arity_error();
    auto delta = req[2];
    if (name == "DECRBY")
      delta = delta.rfind('-', 0) == 0 ? delta.substr(1) : "-" + delta;
    return submit(op_code::incrby, {std::move(req[1]), std::move(delta)});
  }
  if (name == "APPEND") {
    if (argc != 3)
      return arity_error();
    if (!check_values(req, 2, 3))
      return;
    return submit(op_code::append, {std::move(req[1]), std::move(req[2])});
  }
  if (name == "DBSIZE") {
    if (argc != 1)
      return arity_error();
    return submit(op_code::dbsize, {});
  }
  std::string args;
  for (size_t i = 1; i < argc && i < 4; ++i)
    args += "'" + req[i].substr(0, 64) + "' ";
  reply_now(error_reply("ERR unknown command '" + req[0].substr(0, 64)
                        + "', with args beginning with: " + args));
}

} // namespace

void client_server::impl::accept() {
  acceptor.async_accept([this](const boost::system::error_code& ec,
                               tcp::socket sock) {
    if (ec == asio::error::operation_aborted)
      return;
    if (!ec) {
      if (*connections >= cfg.connections_max) {
        static const std::string full = "-ERR max number of clients reached\r\n";
        boost::system::error_code ignored;
        asio::write(sock, asio::buffer(full), ignored);
        sock.close(ignored);
      } else {
        sock.set_option(tcp::no_delay(true));
        std::make_shared<session>(std::move(sock), *this, ids())->start();
      }
    }
    accept();
  });
}

client_server::client_server(std::unique_ptr<impl> p) : impl_(std::move(p)) {
}

client_server::~client_server() {
  stop();
}

std::unique_ptr<client_server>
client_server::start(caf::actor_system& sys, const role_handles& roles,
                     const client_server_config& cfg, std::string& error) {
  auto p = std::make_unique<impl>();
  p->cfg = cfg;
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(cfg.host, ec);
  if (ec) {
    error = "client address '" + cfg.host + "': " + ec.message();
    return nullptr;
  }
  tcp::endpoint ep{addr, cfg.port};
  p->acceptor.open(ep.protocol(), ec);
  if (!ec)
    p->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec)
    p->acceptor.bind(ep, ec);
  if (!ec)
    p->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    error = "cannot listen for clients on " + cfg.host + ":"
            + std::to_string(cfg.port) + ": " + ec.message();
    return nullptr;
  }
  p->gateway = sys.spawn(gateway_impl, roles);
  p->learner = roles.learner;
  p->accept();
  auto* raw = p.get();
  p->thread = std::thread([raw] { raw->io->run(); });
  return std::unique_ptr<client_server>(new client_server(std::move(p)));
}

uint16_t client_server::port() const {
  boost::system::error_code ec;
  auto ep = impl_->acceptor.local_endpoint(ec);
  return ec ? 0 : ep.port();
}

void client_server::stop() {
  if (!impl_ || !impl_->thread.joinable())
    return;
  asio::post(*impl_->io, [p = impl_.get()] {
    boost::system::error_code ignored;
    p->acceptor.close(ignored);
  });
  impl_->io->stop();
  impl_->thread.join();
  caf::anon_send_exit(impl_->gateway, caf::exit_reason::user_shutdown);
}

} // namespace paxoskv
