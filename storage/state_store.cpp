#include "storage/state_store.hpp"

#include "protocol/snapshot_format.hpp"

namespace paxoskv {

snapshot_chunk serve_chunk(state_store& store, node_id self,
                           const snapshot_request& r) {
  snapshot_chunk c;
  c.source = self;
  auto info = store.prepare_snapshot(r.snapshot);
  if (!info) {
    c.error = info.error().message;
    return c;
  }
  auto& i = info.value();
  auto offset = i.snapshot == r.snapshot ? r.offset : 0;
  auto bytes = store.read_snapshot(i.snapshot, offset, r.max_bytes);
  if (!bytes) {
    c.error = bytes.error().message;
    return c;
  }
  c.snapshot = i.snapshot;
  c.total = i.total;
  c.checksum = i.checksum;
  c.offset = offset;
  c.data = std::move(bytes.value());
  c.data_checksum = snapshot::fnv1a(c.data);
  return c;
}

storage_status memory_state_store::load(state_machine& sm) const {
  if (!load_image(sm, image_))
    return storage_error{storage_errc::corrupt,
                         "the state machine's records do not decode"};
  return std::nullopt;
}

storage_status memory_state_store::commit(const state_write& w) {
  image_.apply(w);
  return std::nullopt;
}

storage_result<snapshot_info>
memory_state_store::prepare_snapshot(slot_t wanted) {
  if (wanted == 0 || kept_.count(wanted) == 0) {
    if (kept_.empty() || kept_.rbegin()->first < image_.applied)
      kept_[image_.applied] = snapshot::encode(cluster_, image_);
    while (kept_.size() > 2)
      kept_.erase(kept_.begin());
    wanted = kept_.rbegin()->first;
  }
  auto& bytes = kept_.at(wanted);
  uint64_t sum = 0;
  snapshot::trailer_checksum(bytes, sum);
  return snapshot_info{wanted, bytes.size(), sum};
}

storage_result<std::string>
memory_state_store::read_snapshot(slot_t snapshot, uint64_t offset,
                                  uint32_t max) {
  auto i = kept_.find(snapshot);
  if (i == kept_.end() || offset > i->second.size())
    return storage_error{storage_errc::invalid_argument,
                         "no such snapshot or offset"};
  return i->second.substr(offset, max);
}

std::optional<snapshot_transfer> memory_state_store::partial_snapshot() const {
  return partial_;
}

storage_status memory_state_store::store_chunk(const snapshot_chunk& c) {
  if (c.offset == 0) {
    partial_ = snapshot_transfer{c.source, c.snapshot, c.total, c.checksum, 0};
    received_.clear();
  } else if (!partial_ || partial_->snapshot != c.snapshot
             || partial_->received != c.offset) {
    return storage_error{storage_errc::invalid_argument,
                         "a chunk that does not continue the transfer"};
  }
  received_ += c.data;
  partial_->received = received_.size();
  return std::nullopt;
}

storage_status memory_state_store::install_snapshot(state_machine& sm) {
  if (!partial_ || partial_->received != partial_->total)
    return storage_error{storage_errc::invalid_argument,
                         "no complete snapshot received"};
  uint64_t sum = 0;
  if (!snapshot::trailer_checksum(received_, sum) || sum != partial_->checksum)
    return storage_error{storage_errc::corrupt,
                         "the received snapshot does not match its checksum"};
  if (auto err = snapshot::decode_into(received_, cluster_, sm); !err.empty())
    return storage_error{storage_errc::corrupt, err};
  image_ = save_image(sm);
  partial_.reset();
  received_.clear();
  return std::nullopt;
}

} // namespace paxoskv
