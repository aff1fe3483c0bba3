// Property of the fabric's reliable stream alone (fabric/stream_sender.h,
// fabric/stream_receiver.h), with a toy payload and no blade: over a network
// that drops, duplicates, delays and reorders frames, refuses them when the
// send queue is full, and cuts M1, M2 or both, the receiver gets every frame
// in order and exactly once (each number once, contiguous, a reset being
// the only restart), the content it applies has neither gap nor repeat, and
// it holds everything the sender produced once the faults stop.
//
// The toy payload: the sender produces items 0, 1, 2, ...; a live frame
// carries a range [begin, end) of them. A reset carries everything
// produced when it began (`total`) in chunks of at most 100 items,
// interleaved with live frames of what is produced meanwhile; an idle
// sender's keep-alive carries a summary (how many items it produced).
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "fabric/link_monitor.h"
#include "fabric/stream_receiver.h"
#include "fabric/stream_sender.h"
#include "sim/sim_event_loop.h"
#include "sim/sim_network.h"
#include "tests/support/broken_streams.h"

namespace bladesync::testing {
namespace {

// ---- the toy wire: a data frame or an ack, as plain bytes -----------------
enum : uint8_t { kData = 1, kAck = 2 };
struct DataWire {
  uint8_t type = kData;
  StreamHeader h;
  uint64_t begin = 0, end = 0;  // items
  uint64_t total = 0;           // reset frames: what the reset covers; summaries: items produced
};
struct AckWire {
  uint8_t type = kAck;
  StreamAck ack;
};
// Zeroed first: padding bytes go on the (simulated) wire and into the
// replay's trace hash.
std::span<const uint8_t> DataBytes(const StreamHeader& h, uint64_t begin, uint64_t end, uint64_t total,
                                   std::vector<uint8_t>& buf) {
  DataWire w;
  std::memset(static_cast<void*>(&w), 0, sizeof w);
  w.type = kData;
  w.h.epoch = h.epoch;
  w.h.first_seq = h.first_seq;
  w.h.seq_count = h.seq_count;
  w.h.flags = h.flags;
  w.h.send_time_ns = h.send_time_ns;
  w.begin = begin;
  w.end = end;
  w.total = total;
  buf.assign(reinterpret_cast<const uint8_t*>(&w), reinterpret_cast<const uint8_t*>(&w) + sizeof w);
  return buf;
}
std::span<const uint8_t> AckBytes(const StreamAck& a, std::vector<uint8_t>& buf) {
  AckWire w;
  std::memset(static_cast<void*>(&w), 0, sizeof w);
  w.type = kAck;
  w.ack.epoch = a.epoch;
  w.ack.next_seq = a.next_seq;
  w.ack.nack_from = a.nack_from;
  w.ack.nack_to = a.nack_to;
  w.ack.reset_request = a.reset_request;
  buf.assign(reinterpret_cast<const uint8_t*>(&w), reinterpret_cast<const uint8_t*>(&w) + sizeof w);
  return buf;
}

// The sender's payload: items appended by the test.
class ItemSource : public StreamSource {
 public:
  void Add(uint64_t n) { produced_ += n; }
  uint64_t produced() const { return produced_; }

  bool Cut(uint32_t budget, FrameCut& cut) override {
    if (resetting_ && (!live_turn_ || cursor_ == produced_)) {
      if (reset_begin_) target_ = cursor_ = produced_;  // the reset covers what exists now
      const uint64_t end = std::min<uint64_t>(snap_ + 100, target_);
      uint8_t flags = reset_begin_ ? kStreamBegin : 0;
      if (end == target_) flags |= kStreamEnd;
      cut = FrameCut{0, snap_, end, std::max<uint32_t>(1, static_cast<uint32_t>(end - snap_)), flags};
      snap_ = end;
      reset_begin_ = false;
      resetting_ = !(flags & kStreamEnd);
      live_turn_ = true;
      return true;
    }
    live_turn_ = false;
    if (cursor_ == produced_ || budget == 0) return false;
    const uint64_t n = std::min<uint64_t>({produced_ - cursor_, budget, 50});
    cut = FrameCut{1, cursor_, cursor_ + n, static_cast<uint32_t>(n), 0};
    cursor_ += n;
    return true;
  }
  std::span<const uint8_t> Build(const FrameCut& cut, const StreamHeader& h) override {
    return DataBytes(h, cut.begin, cut.end, cut.kind == 0 ? target_ : 0, buf_);
  }
  std::span<const uint8_t> BuildKeepAlive(const StreamHeader& h, bool summary) override {
    StreamHeader k = h;
    if (summary) k.flags |= kStreamSummary;
    return DataBytes(k, 0, 0, summary ? produced_ : 0, buf_);
  }
  void Restart(const char*) override {
    resetting_ = reset_begin_ = true;
    snap_ = 0;
  }
  bool drained() const override { return !resetting_ && cursor_ == produced_; }

 private:
  uint64_t produced_ = 0;
  uint64_t cursor_ = 0;     // next item a live frame carries
  uint64_t target_ = 0;     // what the current reset covers
  uint64_t snap_ = 0;       // next item the reset carries
  bool resetting_ = true;   // every stream opens with a reset
  bool reset_begin_ = true;
  bool live_turn_ = false;
  std::vector<uint8_t> buf_;
};

// The receiver's payload: what it holds, and the first broken promise.
class ItemSink : public StreamSink {
 public:
  void BeginReset(const StreamFrame&) override {}
  void Forget() override { snap_ = live_ = 0; }
  void Apply(const StreamFrame& f, std::span<const uint8_t> frame, Link) override {
    DataWire d;
    std::memcpy(&d, frame.data(), sizeof d);
    const bool begin = f.h.flags & kStreamBegin;
    if (!begin && have_next_ && f.h.first_seq != next_seq_) {
      Violation("applied number " + std::to_string(f.h.first_seq) + " expecting " + std::to_string(next_seq_));
    }
    if (begin && have_next_ && f.h.first_seq < next_seq_) Violation("a reset restarted behind what was applied");
    if (begin) {  // the reset's chunks run from 0, live frames from what it covers
      snap_ = 0;
      live_ = d.total;
    }
    const bool reset_chunk = d.total != 0 || (f.h.flags & (kStreamBegin | kStreamEnd));
    uint64_t& at = reset_chunk ? snap_ : live_;
    if (d.begin != at) {
      Violation(std::string(reset_chunk ? "reset" : "live") + " items [" + std::to_string(d.begin) + ", " +
                std::to_string(d.end) + ") applied holding " + std::to_string(at));
    }
    at = std::max(at, d.end);
    if (!reset_chunk) live_applied_ += f.h.seq_count;
    next_seq_ = f.h.first_seq + f.h.seq_count;
    have_next_ = true;
  }
  std::string Mismatch(const StreamFrame& f) override {
    ++summaries_;
    if (held() == f.summary_count) return {};
    return "holds " + std::to_string(held()) + " items, the sender produced " + std::to_string(f.summary_count);
  }
  std::span<const uint8_t> BuildAck(const StreamAck& ack, Link) override { return AckBytes(ack, buf_); }

  // Everything below live_ (the reset covered what was below its total).
  uint64_t held() const { return live_; }
  uint64_t live_applied() const { return live_applied_; }
  uint64_t summaries() const { return summaries_; }
  const std::string& violation() const { return violation_; }

 private:
  void Violation(const std::string& v) {
    if (violation_.empty()) violation_ = v;
  }
  uint64_t snap_ = 0, live_ = 0;
  uint64_t next_seq_ = 0;
  bool have_next_ = false;
  uint64_t live_applied_ = 0;
  uint64_t summaries_ = 0;
  std::string violation_;
  std::vector<uint8_t> buf_;
};

// Which half is broken, if any.
struct Broken {
  bool ack_unapplied = false;
  bool drop_retransmit_on_link_switch = false;
};

// One sender (chassis 1) and one receiver (chassis 2) on the simulated M1/M2.
class StreamPair {
 public:
  StreamPair(uint64_t seed, const Broken& broken)
      : net_(sched_, seed),
        a_loop_(sched_),
        b_loop_(sched_),
        a_(net_.AddNode(NodeId{1, 1}, a_loop_)),
        b_(net_.AddNode(NodeId{2, 1}, b_loop_)),
        a_links_(opts_.link_lost_after, a_loop_.Now()),
        b_links_(opts_.link_lost_after, b_loop_.Now()) {
    opts_.retransmit_timeout = milliseconds(50);
    opts_.keepalive_interval = milliseconds(100);
    opts_.link_lost_after = milliseconds(300);
    opts_.max_seq_count = 200;
    opts_.window = 400;
    a_links_.set_lost_after(opts_.link_lost_after);
    b_links_.set_lost_after(opts_.link_lost_after);
    if (broken.drop_retransmit_on_link_switch) {
      out_ = std::make_unique<DropRetransmitSender>(source_, opts_, a_loop_, a_, NodeId{2, 1}, a_links_, counters_);
    } else {
      out_ = std::make_unique<StreamSender>(source_, opts_, a_loop_, a_, NodeId{2, 1}, a_links_, counters_);
    }
    if (broken.ack_unapplied) {
      in_ = std::make_unique<AckUnappliedReceiver>(sink_, opts_, b_loop_, b_, NodeId{1, 1}, b_links_, counters_);
    } else {
      in_ = std::make_unique<StreamReceiver>(sink_, opts_, b_loop_, b_, NodeId{1, 1}, b_links_, counters_);
    }
    a_.SetReceiver([this](const FrameMeta& m, std::span<const uint8_t> bytes) {
      AckWire w;
      if (bytes.size() != sizeof w || bytes[0] != kAck) return;
      std::memcpy(&w, bytes.data(), sizeof w);
      out_->OnAck(w.ack, m.link);
    });
    b_.SetReceiver([this](const FrameMeta& m, std::span<const uint8_t> bytes) {
      DataWire d;
      if (bytes.size() != sizeof d || bytes[0] != kData) return;
      std::memcpy(&d, bytes.data(), sizeof d);
      StreamFrame f;
      f.h = d.h;
      f.summary_count = d.total;  // read on summaries only
      f.reset_size = d.total;
      in_->OnFrame(f, m.link, bytes);
    });
    // One tick per side; the links are judged once per tick, for both halves.
    a_tick_ = std::make_unique<PeriodicTask>(a_loop_, milliseconds(2), [this] {
      const Nanos now = a_loop_.Now();
      if (a_links_.Update(now)) out_->OnLinkSwitch();
      out_->OnTick(now);
    });
    b_tick_ = std::make_unique<PeriodicTask>(b_loop_, milliseconds(2), [this] {
      const Nanos now = b_loop_.Now();
      b_links_.Update(now);
      in_->OnTick(now);
    });
    out_->Pump();
  }

  void Add(uint64_t n) {
    source_.Add(n);
    out_->Pump();
  }
  SimScheduler& sched() { return sched_; }
  SimNetwork& net() { return net_; }
  const ItemSource& source() const { return source_; }
  const ItemSink& sink() const { return sink_; }
  const StreamReceiver& in() const { return *in_; }
  const StreamCounters& counters() const { return counters_; }

 private:
  SimScheduler sched_;
  SimNetwork net_;
  SimEventLoop a_loop_, b_loop_;
  SimTransport& a_;
  SimTransport& b_;
  StreamOptions opts_;
  StreamCounters counters_;
  LinkMonitor a_links_, b_links_;
  ItemSource source_;
  ItemSink sink_;
  std::unique_ptr<StreamSender> out_;
  std::unique_ptr<StreamReceiver> in_;
  std::unique_ptr<PeriodicTask> a_tick_, b_tick_;
};

struct Step {
  int op;
  int n;
  Link link;
  int ms;
};
struct Plan {
  uint64_t seed;
  SimFaults faults;
  std::vector<Step> steps;
};
struct Outcome {
  std::string violation;
  bool converged = false;
  uint64_t produced = 0, held = 0, live_applied = 0;
  uint64_t trace = 0;
  int cuts = 0;
  // How often the paths under test ran (summed over cases, each must).
  bool in_step = false;
  uint64_t nacks = 0, reordered = 0, refused = 0, resent = 0, resets = 0, summaries = 0, switches = 0;
};

Outcome Execute(const Plan& plan, const Broken& broken = {}) {
  StreamPair p(plan.seed, broken);
  p.net().faults() = plan.faults;
  Outcome out;
  for (const Step& st : plan.steps) {
    if (st.op < 5) {
      p.Add(static_cast<uint64_t>(st.n));
    } else if (st.op < 7) {
      if (p.net().is_cut(1, 2, st.link)) {
        p.net().Restore(1, 2, st.link);
      } else {
        p.net().Cut(1, 2, st.link);
        ++out.cuts;
      }
    } else {
      p.sched().RunFor(milliseconds(st.ms));
    }
  }
  // Quiesce: links back, faults off, time for resends and resets.
  for (Link l : {Link::kM1, Link::kM2}) p.net().Restore(1, 2, l);
  p.net().faults() = SimFaults{};
  p.sched().RunFor(seconds(3));
  out.violation = p.sink().violation();
  out.produced = p.source().produced();
  out.held = p.sink().held();
  out.live_applied = p.sink().live_applied();
  out.in_step = p.in().in_step();
  out.converged = out.in_step && out.held == out.produced;
  const StreamCounters& c = p.counters();
  out.nacks = c.nacks_sent.get();
  out.reordered = c.frames_reordered.get();
  out.refused = c.send_queue_full.get();
  out.resent = c.frames_resent.get();
  out.resets = c.bulk_syncs_in_doubt.get() + c.sync_requests_deferred.get();
  out.summaries = p.sink().summaries();
  out.switches = c.link_switches.get();
  out.trace = p.sched().trace_hash();
  return out;
}

Plan GeneratePlan() {
  Plan plan;
  plan.seed = *rc::gen::arbitrary<uint64_t>();
  plan.faults.drop = *rc::gen::element(0.0, 0.02, 0.1, 0.3);
  plan.faults.duplicate = *rc::gen::element(0.0, 0.05, 0.2);
  plan.faults.delay = *rc::gen::element(0.0, 0.1, 0.5);
  plan.faults.send_queue = *rc::gen::element(0, 0, 2, 8);  // ZeroMQ's high-water mark refusing frames
  const int steps = *rc::gen::inRange(5, 80);
  for (int i = 0; i < steps; ++i) {
    plan.steps.push_back(Step{*rc::gen::inRange(0, 10), *rc::gen::inRange(1, 500),
                              *rc::gen::element(Link::kM1, Link::kM2), *rc::gen::inRange(1, 1500)});
  }
  return plan;
}

TEST(StreamExactlyOnce, InOrderExactlyOnceAndConvergent) {
  uint64_t cases = 0, judged = 0, applied = 0;
  Outcome sum;
  const bool ok = rc::check("the stream alone: in order, exactly once, convergent", [&] {
    const Plan plan = GeneratePlan();
    const Outcome first = Execute(plan);
    RC_LOG() << "violation: " << first.violation << "; produced " << first.produced << ", held " << first.held
             << ", converged " << first.converged << ", resets asked " << first.resets << ", in step "
             << first.in_step << "\n";
    RC_ASSERT(first.violation.empty());
    RC_ASSERT(first.converged);
    // Determinism: the same plan and seed replay the same events and frames.
    RC_ASSERT(Execute(plan).trace == first.trace);
    ++cases;
    judged += first.live_applied > 0;
    applied += first.live_applied;
    sum.nacks += first.nacks;
    sum.reordered += first.reordered;
    sum.refused += first.refused;
    sum.resent += first.resent;
    sum.summaries += first.summaries;
    sum.switches += first.switches;
    RC_CLASSIFY(first.cuts > 0, "link cuts");
    RC_CLASSIFY(plan.faults.drop > 0, "drops");
    RC_CLASSIFY(plan.faults.send_queue > 0, "send queue limit");
  });
  std::printf("stream: %llu cases, %llu judged the order of %llu live numbers applied; %llu NACKs, %llu frames "
              "reordered, %llu refused by the send queue, %llu resent, %llu link switches, %llu summaries judged\n",
              static_cast<unsigned long long>(cases), static_cast<unsigned long long>(judged),
              static_cast<unsigned long long>(applied), static_cast<unsigned long long>(sum.nacks),
              static_cast<unsigned long long>(sum.reordered), static_cast<unsigned long long>(sum.refused),
              static_cast<unsigned long long>(sum.resent), static_cast<unsigned long long>(sum.switches),
              static_cast<unsigned long long>(sum.summaries));
  ASSERT_TRUE(ok);
  // Half the steps produce items: a case that applied no live frame judged
  // only resets, and such cases must stay the exception.
  EXPECT_GE(judged * 10, cases * 9) << "the order was judged in only " << judged << " of " << cases << " cases";
  // Every path the property is about ran, somewhere in the run.
  EXPECT_GT(sum.nacks, 0u);
  EXPECT_GT(sum.reordered, 0u);
  EXPECT_GT(sum.refused, 0u);
  EXPECT_GT(sum.resent, 0u);
  EXPECT_GT(sum.switches, 0u);
  EXPECT_GT(sum.summaries, 0u);
}

// Teeth: each broken half must be caught by the promise it breaks (in
// order, exactly once: a violation the sink saw), not by something else.
void ExpectCaught(const Broken& broken, const char* name) {
  bool caught = false;
  int other = 0;
  const bool survived = rc::check(std::string("broken variant: ") + name, [&] {
    if (caught) RC_FAIL("caught (shrinking skipped)");
    const Outcome o = Execute(GeneratePlan(), broken);
    if (!o.violation.empty()) {
      std::printf("%s caught by in-order exactly-once: %s\n", name, o.violation.c_str());
      caught = true;
      RC_FAIL(o.violation);
    }
    other += !o.converged;
  });
  EXPECT_TRUE(caught) << name << " was not caught by in-order exactly-once (" << other
                      << " cases broke only convergence)";
  EXPECT_FALSE(survived);
}

TEST(StreamExactlyOnceTeeth, CatchesAReceiverThatAcksUnappliedFrames) {
  ExpectCaught(Broken{.ack_unapplied = true}, "ack_unapplied");
}

TEST(StreamExactlyOnceTeeth, CatchesASenderThatDropsWhatWasInFlightOnALinkSwitch) {
  ExpectCaught(Broken{.drop_retransmit_on_link_switch = true}, "drop_retransmit_on_link_switch");
}

}  // namespace
}  // namespace bladesync::testing
