// The client service's internals, shared by its two halves:
// client_server.cpp (connections, I/O, the gateway to the actors) and
// client_commands.cpp (what each command does on a connection).
#pragma once

#include "app/client_server.hpp"

#include <algorithm>
#include <array>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <thread>

#include <boost/asio.hpp>
#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>

#include "actors/shell.hpp"
#include "actors/type_ids.hpp"

namespace paxoskv {

/// A request for the INFO text (local only).
struct info_msg {
  /// The asking connection's read level.
  read_level level = read_level::leader;
  std::function<void(std::string)> done;
};

} // namespace paxoskv

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(paxoskv::info_msg)


namespace paxoskv {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

/// The RESP encoding of a state machine result.
std::string encode(const command_result& r);
std::string error_reply(const std::string& text);

class session;

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
  /// Open sessions by client id (CLIENT LIST). Shared like `connections`.
  std::shared_ptr<std::map<uint64_t, std::weak_ptr<session>>> sessions
    = std::make_shared<std::map<uint64_t, std::weak_ptr<session>>>();
  /// INFO stats (touched on the I/O thread only).
  std::chrono::steady_clock::time_point started
    = std::chrono::steady_clock::now();
  uint64_t commands_processed = 0;
  uint64_t connections_received = 0;
  uint64_t connections_rejected = 0;
  /// (time, commands_processed) every 100 ms, the last 16: the
  /// instantaneous rate, as Redis computes it.
  std::deque<std::pair<std::chrono::steady_clock::time_point, uint64_t>>
    ops_samples;
  std::unique_ptr<asio::steady_timer> sampler;

  void accept();
  void sample();
  uint64_t ops_per_sec() const;
};


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
      idle_(*srv.io),
      sessions_(srv.sessions),
      created_(std::chrono::steady_clock::now()),
      last_active_(created_) {
    ++*connections_;
    boost::system::error_code ec;
    auto peer = sock_.remote_endpoint(ec);
    if (!ec)
      addr_ = peer.address().to_string() + ":" + std::to_string(peer.port());
    auto local = sock_.local_endpoint(ec);
    if (!ec)
      laddr_ = local.address().to_string() + ":"
               + std::to_string(local.port());
  }

  ~session() {
    --*connections_;
    sessions_->erase(client_id_);
    // The learner forgets the session and stops resending its commands.
    caf::anon_send(learner_, client_closed{client_id_});
  }

  void start() {
    (*sessions_)[client_id_] = weak_from_this();
    arm_idle();
    read();
  }

  /// This connection as a CLIENT LIST line.
  std::string client_line() const;

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

  /// Sends a command through the log; the reply fills its slot. With
  /// `instead`, a success is answered with it (DISCARD after UNWATCH).
  void submit(op_code op, std::vector<std::string> args,
              std::optional<std::string> instead = std::nullopt) {
    auto id = push_slot();
    command cmd{client_id_, ++seq_, op, std::move(args)};
    // Straight to the learner, which calls back: no actor hop and no
    // response message per command. The reply is delivered once: by the
    // learner, or, should the request be dropped unanswered (a learner
    // that is gone drops messages), as "outcome unknown" when the last
    // copy of the callback goes.
    struct once {
      std::weak_ptr<session> weak;
      std::shared_ptr<asio::io_context> io;
      uint64_t id;
      std::optional<std::string> instead;
      bool done = false;
      once(std::weak_ptr<session> w, std::shared_ptr<asio::io_context> i,
           uint64_t slot, std::optional<std::string> alt)
        : weak(std::move(w)), io(std::move(i)), id(slot),
          instead(std::move(alt)) {
      }
      once(const once&) = delete;
      once& operator=(const once&) = delete;
      void deliver(client_reply r) {
        done = true;
        asio::post(*io, [weak = weak, id = id, r = std::move(r),
                         instead = instead] {
          if (auto s = weak.lock()) {
            bool failed = r.result.kind == result_kind::not_applied
                          || r.result.kind == result_kind::unknown;
            s->complete(id, instead && !failed ? *instead
                                               : encode(r.result));
          }
        });
      }
      ~once() {
        if (!done)
          deliver(client_reply{0, 0,
                               {result_kind::unknown,
                                "outcome unknown: the request was dropped "
                                "inside the node (its learner stopped)",
                                0}});
      }
    };
    auto reply = std::make_shared<once>(shared_from_this(), io_, id,
                                        std::move(instead));
    caf::anon_send(learner_,
                   local_request{std::move(cmd), read_level_,
                                 [reply](client_reply r) {
                                   reply->deliver(std::move(r));
                                 }});
  }

  // client_commands.cpp
  void on_request(std::vector<std::string>& req);
  bool check_values(const std::vector<std::string>& req);
  void in_transaction(const std::string& name, std::vector<std::string>& req);
  void exec();
  void discard(const std::string& reply);
  bool connection_command(const std::string& name,
                          std::vector<std::string>& req);
  void hello(std::vector<std::string>& req);
  void client(std::vector<std::string>& req);
  void config(std::vector<std::string>& req);
  void command_cmd(std::vector<std::string>& req);
  void info(std::vector<std::string> sections);
  void role();
  /// Asks the gateway for the node's status (the Paxos INFO text) and
  /// answers this request's slot with `reply` of it, in request order.
  void with_status(
    std::function<std::string(session&, const std::string& paxos)> reply);

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
  std::shared_ptr<std::map<uint64_t, std::weak_ptr<session>>> sessions_;

  // MULTI: the commands queued, their size, and whether one was refused
  // while queuing (EXEC then answers EXECABORT).
  bool in_multi_ = false;
  bool multi_failed_ = false;
  std::vector<std::string> queued_;
  size_t queued_commands_ = 0;
  size_t queued_bytes_ = 0;
  /// WATCH was sent and not yet cleared by EXEC, DISCARD or UNWATCH.
  bool watching_ = false;

  // CLIENT: what the connection said about itself.
  std::string name_;
  std::string lib_name_;
  std::string lib_ver_;
  std::string addr_;
  std::string laddr_;
  std::string last_command_;
  std::chrono::steady_clock::time_point created_;
  std::chrono::steady_clock::time_point last_active_;
};


} // namespace paxoskv
