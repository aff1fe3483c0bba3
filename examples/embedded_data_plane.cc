// A data plane that embeds a bladesync blade through the embedding API
// (api/embedded_blade.h, api/blade.h). It stands for a chassis vendor's
// packet path: it keeps its own sessions and reports each change, and on
// failover it takes the sessions its blade adopted and learns the role.
//
//   bladesyncd --config F --chassis 1 --no-blades          # the chassis manager
//   embedded_data_plane --config F --chassis 1 --slot 1 --sessions 1000
//
// With --sessions N it opens N TCP sessions (SYN, then established) once
// its chassis is primary and closes every tenth. With --churn R too it then
// goes on: it closes its oldest open sessions and opens as many new ones,
// R per second (a sync load that does not end; bench/false_failover.py
// runs it for ten minutes). It prints what it reports
// and what bladesync tells it, one line each, and a status line every
// second; SIGTERM or SIGINT (or --exit-after seconds) stops it.
//
// Asymmetric active-active (session-pickup-defer), as two processes:
//   --probe N --to FILE [--defer-ms MS]   opens N sessions; each one's first
//       packet goes out (a line "i" to FILE, a FIFO) at once, or with
//       --defer-ms once every live mirror has the session (api WhenSynced)
//   --replies FILE    the reply path through this chassis: for each line it
//       looks the session up among its mirrored ones, at once, and prints
//       "reply i found" or "reply i missing"
// Exit codes: 0 stopped, 2 usage, config or start-up error.
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>
#include <cstdlib>
#include <deque>
#include <memory>
#include <string>

#include "api/embedded_blade.h"

namespace {

using namespace bladesync;

constexpr const char* kUsage =
    "usage: embedded_data_plane --config FILE --chassis N --slot S [--sessions N [--churn PER_SECOND]] [--exit-after SECONDS]\n";

long Number(int& i, int argc, char** argv, long lo, long hi) {
  if (i + 1 >= argc) {
    std::fprintf(stderr, "embedded_data_plane: %s needs a value\n%s", argv[i], kUsage);
    std::exit(2);
  }
  char* end = nullptr;
  const long n = std::strtol(argv[++i], &end, 10);
  if (*argv[i] == '\0' || *end != '\0' || n < lo || n > hi) {
    std::fprintf(stderr, "embedded_data_plane: %s needs a whole number from %ld to %ld\n", argv[i - 1], lo, hi);
    std::exit(2);
  }
  return n;
}

api::SessionKey ProbeKey(long i) {
  return api::SessionKey::V4(0x0b000000u + static_cast<uint32_t>(i), 0xc6336401u, static_cast<uint16_t>(30000 + i % 30000),
                             443, kProtoTcp);
}

// The data plane's own side: what it opens once its chassis is primary. In
// bursts, one loop turn each: the blade's thread also sends its statuses
// and streams, and a million at once held it half a second (with 10 ms
// heartbeats its manager marked it dead).
struct DataPlane {
  static constexpr long kBurst = 4096;
  api::EmbeddedBlade* embedded = nullptr;
  long to_open = 0;
  long churn = 0;  // sessions replaced per second
  std::unique_ptr<Timer> churn_timer;
  Nanos churn_start{0};
  long churned = 0;
  bool opened = false;
  long next = 0, created = 0, closed = 0;
  std::deque<api::SessionId> open;  // oldest first (churn)

  void Open(api::Blade& blade) {
    if (opened || to_open == 0) return;
    opened = true;
    OpenSome(blade);
  }
  // Session i: SYN, then established, then a data packet.
  api::SessionId OpenOne(api::Blade& blade, long i) {
    api::SessionFacts facts;
    facts.key = api::SessionKey::V4(0x0a000000u + static_cast<uint32_t>(i), 0xc6336401u,
                                    static_cast<uint16_t>(20000 + i % 40000), 443, kProtoTcp);
    facts.srcintf = 1;
    facts.dstintf = 2;
    const api::SessionId id = blade.Create(facts, api::SessionState{kTcpSynSent, 0, 120});
    if (id == api::kNoSession) return id;
    ++created;
    blade.Update(id, api::SessionState{kTcpEstablished, 0, 3600});  // the handshake completed
    blade.Touch(id);                                                // a data packet
    return id;
  }
  void OpenSome(api::Blade& blade) {
    for (const long end = std::min(to_open, next + kBurst); next < end; ++next) {
      const api::SessionId id = OpenOne(blade, next);
      if (id == api::kNoSession) continue;
      if (next % 10 == 9) {
        blade.Delete(id, kDeleteClosed);
        ++closed;
      } else if (churn) {
        open.push_back(id);
      }
    }
    if (next < to_open) {
      embedded->Post([this](api::Blade& b) { OpenSome(b); });
      return;
    }
    std::printf("reported %ld sessions, closed %ld: %ld open\n", created, closed, created - closed);
    if (churn) {
      churn_start = blade.loop().Now();
      churn_timer = blade.loop().CreateTimer([this, &blade] { Churn(blade); });
      churn_timer->Arm(milliseconds(1));
    }
  }
  // Every millisecond: closes the oldest open sessions and opens as many
  // new ones as are due (keys go on from where the first ones ended,
  // wrapping in 2^24), at most kBurst at a time.
  void Churn(api::Blade& blade) {
    churn_timer->Arm(milliseconds(1));
    if (blade.role() != api::Role::kPrimary && blade.role() != api::Role::kStandalone) return;
    const double elapsed = std::chrono::duration<double>(blade.loop().Now() - churn_start).count();
    const long due = std::min<long>(kBurst, static_cast<long>(elapsed * churn) - churned);
    for (long n = 0; n < due && !open.empty(); ++n) {
      ++churned;
      blade.Delete(open.front(), kDeleteClosed);
      open.pop_front();
      ++closed;
      const api::SessionId id = OpenOne(blade, next++ % (1l << 24));
      if (id == api::kNoSession) continue;
      open.push_back(id);
    }
  }
};

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  api::EmbedOptions opt;
  long exit_after = 0, probe = 0, defer_ms = 0;
  std::string probe_to, replies_from;
  auto data_plane = std::make_shared<DataPlane>();
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--config" && i + 1 < argc) opt.config = argv[++i];
    else if (a == "--chassis") opt.chassis = static_cast<uint8_t>(Number(i, argc, argv, 1, 255));
    else if (a == "--slot") opt.slot = static_cast<uint8_t>(Number(i, argc, argv, 1, 255));
    else if (a == "--sessions") data_plane->to_open = Number(i, argc, argv, 0, 1000000);
    else if (a == "--churn") data_plane->churn = Number(i, argc, argv, 1, 10000000);
    else if (a == "--exit-after") exit_after = Number(i, argc, argv, 0, 86400);
    else if (a == "--probe") probe = Number(i, argc, argv, 1, 100000);
    else if (a == "--defer-ms") defer_ms = Number(i, argc, argv, 1, 1000);
    else if (a == "--to" && i + 1 < argc) probe_to = argv[++i];
    else if (a == "--replies" && i + 1 < argc) replies_from = argv[++i];
    else {
      std::fprintf(stderr, "embedded_data_plane: unknown option %s\n%s", a.c_str(), kUsage);
      return 2;
    }
  }
  if (opt.config.empty() || opt.chassis == 0 || opt.slot == 0) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  // Signals go to this thread only (sigtimedwait below): the blade's threads inherit the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  Result<std::unique_ptr<api::EmbeddedBlade>> started = api::EmbeddedBlade::Start(opt);
  if (!started.ok()) {
    std::fprintf(stderr, "embedded_data_plane: %s\n", started.status().message().c_str());
    return 2;
  }
  api::EmbeddedBlade& embedded = *started.value();
  data_plane->embedded = &embedded;
  std::printf("blade %d of chassis %d started\n", opt.slot, opt.chassis);

  embedded.Run([data_plane](api::Blade& blade) {
    blade.OnAdopted([data_plane, &blade](const api::Adoption& a) {
      // The adopted sessions are this blade's now: the data plane takes them
      // into its own tables (here: counts them) before traffic arrives. A
      // listener runs before the blade tells its manager the adoption is
      // done, so a walk of half a million sessions here would hold the
      // takeover back (5-9 ms in bench/failover_time.py --million): it goes
      // to the next loop turn, under a hold that keeps traffic away until
      // it is done (the manager moves the addresses only then).
      auto hold = std::make_shared<api::AdoptionHold>(blade.HoldAdoption());
      data_plane->embedded->Post([a, hold](api::Blade& blade) {
        size_t marked = 0;
        blade.ForEachOwned([&](api::SessionId, const api::SessionView& s) {
          marked += (s.record->flags & kFlagAdopted) != 0;
        });
        std::printf("adopted %zu sessions of chassis %d (%zu owned sessions carry the adopted flag)\n", a.sessions,
                    a.from_chassis, marked);
        hold->Release();
      });
    });
    auto on_role = [data_plane, &blade](api::Role now) {
      if (now == api::Role::kPrimary || now == api::Role::kStandalone) data_plane->Open(blade);
    };
    // On the next turn too, behind an adoption's walk posted before it: the
    // data plane opens sessions as primary only once it took the adopted ones.
    blade.OnRoleChange([data_plane, on_role](api::Role was, api::Role now) {
      data_plane->embedded->Post([on_role, was, now](api::Blade&) {
        std::printf("role %s -> %s\n", api::RoleName(was), api::RoleName(now));
        on_role(now);
      });
    });
    on_role(blade.role());  // told before the listener was there
  });

  // The first packets out of this chassis (a FIFO the other process reads).
  if (probe) {
    if (probe_to.empty()) {
      std::fprintf(stderr, "embedded_data_plane: --probe needs --to FILE\n%s", kUsage);
      return 2;
    }
    FILE* out = std::fopen(probe_to.c_str(), "w");
    if (!out) {
      std::fprintf(stderr, "embedded_data_plane: %s: cannot open\n", probe_to.c_str());
      return 2;
    }
    std::setvbuf(out, nullptr, _IOLBF, 0);
    // Once the cluster has settled (a role, then a second for the mirrors).
    for (int waited = 0; waited < 600; ++waited) {
      bool known = false;
      embedded.Run([&](api::Blade& blade) { known = blade.role() != api::Role::kUnknown; });
      if (known) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    std::this_thread::sleep_for(std::chrono::seconds(1));
    for (long i = 0; i < probe; ++i) {
      embedded.Run([&](api::Blade& blade) {
        api::SessionFacts facts;
        facts.key = ProbeKey(i);
        const api::SessionId id = blade.Create(facts, api::SessionState{kTcpSynSent, 0, 120});
        auto send = [out, i](bool) { std::fprintf(out, "%ld\n", i); };
        if (defer_ms && id != api::kNoSession) {
          blade.WhenSynced(id, std::chrono::milliseconds(defer_ms), send);
        } else {
          send(false);
        }
      });
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    std::printf("probe: %ld first packets\n", probe);
  }
  // The replies that come back through this chassis: looked up at once.
  std::thread replies;
  auto replies_done = std::make_shared<std::atomic<bool>>(false);
  if (!replies_from.empty()) {
    replies = std::thread([&embedded, replies_from, replies_done] {
      FILE* in = std::fopen(replies_from.c_str(), "r");
      if (!in) return;
      long i = 0;
      while (std::fscanf(in, "%ld", &i) == 1) {
        bool found = false;
        embedded.Run([&](api::Blade& blade) { found = blade.FindMirrored(ProbeKey(i)).has_value(); });
        std::printf("reply %ld %s\n", i, found ? "found" : "missing");
      }
      std::fclose(in);
      *replies_done = true;
    });
  }
  long seconds = 0;
  for (;;) {
    const timespec one_second{1, 0};
    const int sig = sigtimedwait(&signals, nullptr, &one_second);
    if (sig > 0) break;
    if (exit_after && ++seconds >= exit_after) break;
    embedded.Run([data_plane](api::Blade& blade) {
      size_t mirrored = 0;
      blade.ForEachMirrored([&](uint8_t, const api::SessionView&) { ++mirrored; });
      std::printf("status: role %s, owned %zu, mirrored %zu, opened %ld\n", api::RoleName(blade.role()),
                  blade.owned_sessions(), mirrored, data_plane->created);
    });
  }
  // Joined once the writer closed its end; still blocked on the FIFO, it is
  // left to the exit (it touches nothing until a line comes).
  if (replies.joinable()) *replies_done ? replies.join() : replies.detach();
  embedded.Stop();
  std::printf("stopped\n");
  return 0;
}
