// FdWatch: a Wait() after a Pause() sees what arrived meanwhile, and a paused
// descriptor does not wake the loop (Asio keeps a descriptor in epoll,
// edge-triggered, so without Pause() every arrival wakes the loop even with
// no Wait() armed: the conntrack event socket woke its blade once per event).
#include <gtest/gtest.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <thread>

#include "core/asio_event_loop.h"
#include "core/fd_watch.h"

namespace bladesync {
namespace {

class Eventfd {
 public:
  Eventfd() : fd_(eventfd(0, EFD_NONBLOCK)) {}
  ~Eventfd() { close(fd_); }
  int fd() const { return fd_; }
  void Signal() const {
    const uint64_t one = 1;
    ASSERT_EQ(write(fd_, &one, sizeof one), static_cast<ssize_t>(sizeof one));
  }
  void Drain() const {
    uint64_t v;
    (void)!read(fd_, &v, sizeof v);
  }

 private:
  int fd_;
};

TEST(FdWatch, AWaitAfterAPauseSeesWhatArrivedMeanwhile) {
  AsioEventLoop loop;
  Eventfd ev;
  int fired = 0;
  FdWatch w(loop, ev.fd(), [&] {
    ++fired;
    ev.Drain();
  });
  w.Wait();
  ev.Signal();
  loop.RunFor(milliseconds(20));
  EXPECT_EQ(fired, 1);

  w.Pause();
  ev.Signal();
  loop.RunFor(milliseconds(20));
  EXPECT_EQ(fired, 1) << "no callback while paused";
  w.Wait();
  loop.RunFor(milliseconds(20));
  EXPECT_EQ(fired, 2) << "what arrived while paused is seen at the next Wait()";

  w.Wait();
  w.Pause();  // a Wait() pending ends without its callback
  ev.Signal();
  loop.RunFor(milliseconds(20));
  EXPECT_EQ(fired, 2);
  w.Wait();
  loop.RunFor(milliseconds(20));
  EXPECT_EQ(fired, 3);
}

// The loop thread's voluntary context switches while another thread signals
// the descriptor 100 times, 1 ms apart, with no Wait() armed.
long WakesWhileSignalled(bool pause) {
  AsioEventLoop loop;
  Eventfd ev;
  FdWatch w(loop, ev.fd(), [&] { ev.Drain(); });
  w.Wait();
  ev.Signal();
  loop.RunFor(milliseconds(10));  // fired once; not armed again
  if (pause) w.Pause();
  std::atomic<bool> go{false};
  std::thread writer([&] {
    while (!go) std::this_thread::yield();
    for (int i = 0; i < 100; ++i) {
      ev.Signal();
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  });
  rusage before{}, after{};
  getrusage(RUSAGE_THREAD, &before);
  go = true;
  loop.RunFor(milliseconds(300));
  getrusage(RUSAGE_THREAD, &after);
  writer.join();
  return after.ru_nvcsw - before.ru_nvcsw;
}

TEST(FdWatch, APausedDescriptorDoesNotWakeTheLoop) {
  const long unpaused = WakesWhileSignalled(false);
  const long paused = WakesWhileSignalled(true);
  // The control shows the wakes are there to be seen on this kernel.
  EXPECT_GE(unpaused, 50) << "each signal woke the loop";
  EXPECT_LE(paused, 20) << "the loop slept through the signals";
}

}  // namespace
}  // namespace bladesync
