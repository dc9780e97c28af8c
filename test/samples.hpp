// One sample of every message type, with non-default fields, shared by the
// serialization tests.
#pragma once

#include <vector>

#include "protocol/messages.hpp"
#include "test/helpers.hpp"

namespace paxoskv::test {

inline std::vector<message> sample_messages() {
  auto entry = accepted_entry{7, ballot{3, 2},
                              batch_of(set_cmd(11, 4, "key", "value")), true};
  configuration grown;
  grown.epoch = 2;
  grown.alpha = 16;
  grown.members = {member{1, "10.0.0.1", 7001, role_all, true, 99},
                   member{4, "10.0.0.4", 7004, role_learner, false, 0}};
  auto configs = bootstrap_history(configuration_from_lists({1, 2, 3}, {1},
                                                            {1}, {1}));
  configs.on_chosen(20, grown);
  log_value change;
  change.config = grown;
  return {
    prepare{ballot{3, 2}, 5, 2},
    promise{ballot{3, 2}, 1, 5, {entry}, false, 4, configs},
    accept{ballot{3, 2}, 9, change, 8, 2},
    accepted{ballot{3, 2}, 9, ballot{4, 1}, 8, 3, 2},
    nack{ballot{3, 2}, ballot{4, 1}, 3},
    success{{chosen_entry{2, batch_of(set_cmd(1, 1, "x", "y"))}}, 2, 30,
            configs},
    success_ack{3, 10, ballot{3, 2}, configs},
    success_relay{3, 17, 32, 2},
    chosen{{chosen_entry{2, nop_value()}}, 9, 2, 3, 40},
    learn_request{3, 12, 11},
    heartbeat{2, 3, {1, 3}, {3}},
    leader_change{3},
    client_command{command{5, 6, op_code::del, {"k", "j"}}, 2, 1, 3},
    client_batch{{client_command{command{7, 1, op_code::set, {"a", "b"}}, 3,
                                 1}}},
    command_refused{5, 6, 2, "no leader known"},
    client_reply{5, 6, command_result{result_kind::integer, "", 1}},
    read_request{7, 2, read_level::lease, 1},
    read_index{7, 42, 1},
    read_refused{7, "no leader known"},
    read_probe{ballot{3, 1}, 9, 1, 200},
    read_probe_ack{ballot{3, 1}, 9, ballot{3, 1}, 2, true},
    snapshot_request{2, 40, 4096, 1 << 20},
    snapshot_chunk{3, 40, 9000, 77, 4096, "bytes", 12, ""},
    membership_request{5, 1001, member_change::add, grown.members[1], 1, 1},
    membership_reply{5, true, "", grown, 36},
    learner_progress{4, 1234},
  };
}

} // namespace paxoskv::test
