#include "app/client_session.hpp"

#include <fstream>
namespace paxoskv {

namespace {

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
        // paxos_role: INFO replication's `role` is Redis's master/slave.
        st->text += std::string("paxos_role:")
                    + (p.phase == "leading" ? "leader" : "follower") + "\r\n"
                    + "proposer_phase:" + p.phase + "\r\n"
                    + "ballot:" + to_string(p.current_ballot) + "\r\n"
                    + "first_unchosen:" + std::to_string(p.first_unchosen)
                    + "\r\n" + "in_flight:" + std::to_string(p.in_flight)
                    + "\r\n" + "lease_ms_left:"
                    + std::to_string(p.lease_ms_left) + "\r\n";
        // Read by INFO replication: each acceptor's progress.
        for (auto& a : p.acceptors)
          st->text += "acceptor_" + std::to_string(a.node)
                      + ":first_unchosen=" + std::to_string(a.first_unchosen)
                      + ",silent_ticks=" + std::to_string(a.silent_ticks)
                      + "\r\n";
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
      st->text = "node:"
                 + std::to_string(roles.node) + "\r\nread_level:"
                 + to_string(m.level) + "\r\n";
      self->request(learner, status_timeout, status_atom_v)
        .then(
          [self, roles, st](learner_status& l) {
            st->text += "applied_index:" + std::to_string(l.applied)
                        + "\r\ndurable_index:" + std::to_string(l.durable)
                        + "\r\nkeys:" + std::to_string(l.keys)
                        + "\r\nexpires:" + std::to_string(l.expires)
                        + "\r\n";
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
  };
}

} // namespace

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
    case result_kind::raw:
      out = r.text;
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


void client_server::impl::accept() {
  acceptor.async_accept([this](const boost::system::error_code& ec,
                               tcp::socket sock) {
    if (ec == asio::error::operation_aborted)
      return;
    if (!ec) {
      ++connections_received;
      if (*connections >= cfg.connections_max) {
        ++connections_rejected;
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

void client_server::impl::sample() {
  ops_samples.emplace_back(std::chrono::steady_clock::now(),
                           commands_processed);
  if (ops_samples.size() > 16)
    ops_samples.pop_front();
  sampler->expires_after(std::chrono::milliseconds(100));
  sampler->async_wait([this](const boost::system::error_code& ec) {
    if (!ec)
      sample();
  });
}

uint64_t client_server::impl::ops_per_sec() const {
  if (ops_samples.size() < 2)
    return 0;
  auto& [t0, n0] = ops_samples.front();
  auto& [t1, n1] = ops_samples.back();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t1 - t0)
              .count();
  return ms <= 0 ? 0 : (n1 - n0) * 1000 / static_cast<uint64_t>(ms);
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
  p->sampler = std::make_unique<asio::steady_timer>(*p->io);
  p->sample();
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
