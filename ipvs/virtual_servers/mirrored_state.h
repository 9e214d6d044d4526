// SPDX-License-Identifier: Apache-2.0
// One virtual server as the reconciler believes the kernel holds it. Once the kernel matches the
// wanted state, the mirror keeps that state itself instead of a second copy: at 10,000 Services
// the mirror's own real-server lists were ~8 MB. It copies on the first change.
#pragma once

#include <map>
#include <memory>
#include <utility>

#include "ipvs/virtual_servers/types.h"

namespace kipvs::ipvs {

class MirroredState {
public:
    explicit MirroredState(VirtualServerState state)
        : state_(std::make_shared<VirtualServerState>(std::move(state))), owned_(true)
    {}
    // The kernel holds exactly `wanted` already (a virtual server just added with all of it).
    static MirroredState sharing(std::shared_ptr<const VirtualServerState> wanted)
    {
        MirroredState shared(std::move(wanted));
        return shared;
    }

    const VirtualServerState& state() const { return *state_; }
    // The state to change: a shared one is copied first.
    VirtualServerState& edit()
    {
        if (!owned_) {
            state_ = std::make_shared<VirtualServerState>(*state_);
            owned_ = true;
        }
        // Made by make_shared<VirtualServerState> above or in the constructor: never a const object.
        return const_cast<VirtualServerState&>(*state_);
    }
    // The kernel now holds exactly `wanted` (counters aside): keep it instead of this copy. Its
    // counters read as zero until a re-read, which the planner does before removing a real server.
    void share(std::shared_ptr<const VirtualServerState> wanted)
    {
        state_ = std::move(wanted);
        owned_ = false;
    }
    bool shares(const std::shared_ptr<const VirtualServerState>& wanted) const { return !owned_ && state_ == wanted; }
    // Same settings and real servers as `wanted`: at once when shared (a full sync compares every
    // virtual server: 580,000 real servers at 50,000 Services).
    bool matches(const std::shared_ptr<const VirtualServerState>& wanted) const
    {
        return shares(wanted) || state_->sameSettings(*wanted);
    }

private:
    explicit MirroredState(std::shared_ptr<const VirtualServerState> wanted) : state_(std::move(wanted)), owned_(false)
    {}

    std::shared_ptr<const VirtualServerState> state_;
    bool owned_;
};

using MirrorTable = std::map<VirtualServerKey, MirroredState>;

}  // namespace kipvs::ipvs
