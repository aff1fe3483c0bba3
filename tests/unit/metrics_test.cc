// /metrics as built from a chassis's numbers: every series carries the
// cluster, every family's HELP says in words what it counts, and the
// failover metric's name says it is a duration.
#include <gtest/gtest.h>

#include <map>

#include "blades/blade_counters.h"
#include "core/histogram.h"
#include "core/version.h"
#include "monitoring/metrics.h"

namespace bladesync {
namespace {

ChassisMetrics Sample() {
  ChassisMetrics m;
  m.cluster = "east";
  m.chassis = 2;
  m.role = "secondary";
  m.last_failover_s = 0.25;
  PeerMetrics p;
  p.chassis = 1;
  p.alive = true;
  p.config_sections_differ = 1;
  p.version = "0.4.0+gaaaaaaa";
  p.schema = "2.0";
  p.schema_compatible = false;
  m.peers.push_back(p);
  BladeMetrics b;
  b.slot = 1;
  b.live = true;
  b.counters = CounterList(BladeCounters{});  // every blade counter, by name
  b.conntrack = {{"events.new", 1}, {"ignored", 2}, {"overruns", 3}, {"resyncs", 4}, {"refused", 5},
                 {"install.installed", 6}, {"resync.created", 7}, {"last_install_us", 8}, {"event_buffer_bytes", 9}};
  StandbyMetrics s;
  s.owner = 1;
  s.lag = {FixedHistogram(FixedHistogram::LagBounds()), FixedHistogram(FixedHistogram::LagBounds())};
  b.standby.push_back(s);
  b.unacked[1] = 3;
  m.blades.push_back(b);
  return m;
}

TEST(Metrics, EverySeriesCarriesTheClusterAndEveryHelpSaysWhat) {
  std::vector<prometheus::MetricFamily> families = BuildMetricFamilies(Sample());
  families.push_back(BuildInfoFamily("east"));
  for (prometheus::MetricFamily& t : TableMemoryFamilies("east", PageSupply::Counts{5, 2, 1})) families.push_back(std::move(t));
  ASSERT_GT(families.size(), 40u);
  for (const prometheus::MetricFamily& f : families) {
    EXPECT_NE(f.help.find(' '), std::string::npos) << f.name << ": HELP '" << f.help << "' is not a sentence";
    EXPECT_EQ(f.help.rfind("Blade counter", 0), std::string::npos) << f.name;
    ASSERT_FALSE(f.metric.empty()) << f.name;
    for (const prometheus::ClientMetric& c : f.metric) {
      ASSERT_FALSE(c.label.empty()) << f.name;
      EXPECT_EQ(c.label.front().name, "cluster") << f.name;
      EXPECT_EQ(c.label.front().value, "east") << f.name;
    }
  }
}

// The same version and commit as --version (core/version.h, stamped by Bazel).
TEST(Metrics, BuildInfoCarriesTheVersionAndTheCommit) {
  const prometheus::MetricFamily f = BuildInfoFamily("east");
  std::map<std::string, std::string> labels;
  for (const auto& l : f.metric.at(0).label) labels[l.name] = l.value;
  EXPECT_EQ(labels["version"], kVersion);
  EXPECT_EQ(labels["revision"], kCommit);
  EXPECT_FALSE(labels["revision"].empty());
}

// The page supply's work shows process-wide: what came ready, what a
// table had to fault in on its sync thread, and how often one was late.
TEST(Metrics, TableMemoryShowsReadyNotReadyAndLate) {
  std::map<std::string, double> value;
  for (const prometheus::MetricFamily& f : TableMemoryFamilies("east", PageSupply::Counts{5, 2, 1})) {
    ASSERT_EQ(f.type, prometheus::MetricType::Counter) << f.name;
    ASSERT_EQ(f.metric.size(), 1u) << f.name;
    value[f.name] = f.metric[0].counter.value;
  }
  EXPECT_EQ(value, (std::map<std::string, double>{{"bladesync_table_arrays_ready_total", 5},
                                                  {"bladesync_table_arrays_not_ready_total", 2},
                                                  {"bladesync_table_memory_late_total", 1}}));
}

// A rolling upgrade shows per peer: its release and wire schema, and
// whether its sessions can sync with ours.
TEST(Metrics, PeersShowTheirVersionAndSchema) {
  std::map<std::string, const prometheus::MetricFamily*> by_name;
  const std::vector<prometheus::MetricFamily> families = BuildMetricFamilies(Sample());
  for (const prometheus::MetricFamily& f : families) by_name[f.name] = &f;
  ASSERT_TRUE(by_name.count("bladesync_peer_info"));
  std::map<std::string, std::string> labels;
  for (const auto& l : by_name["bladesync_peer_info"]->metric.at(0).label) labels[l.name] = l.value;
  EXPECT_EQ(labels["peer"], "1");
  EXPECT_EQ(labels["version"], "0.4.0+gaaaaaaa");
  EXPECT_EQ(labels["schema"], "2.0");
  ASSERT_TRUE(by_name.count("bladesync_peer_schema_compatible"));
  EXPECT_EQ(by_name["bladesync_peer_schema_compatible"]->metric.at(0).gauge.value, 0);
}

TEST(Metrics, TheFailoverMetricIsADuration) {
  bool found = false;
  for (const prometheus::MetricFamily& f : BuildMetricFamilies(Sample())) {
    EXPECT_NE(f.name, "bladesync_last_failover_seconds") << "reads as a timestamp";
    if (f.name == "bladesync_last_failover_duration_seconds") {
      found = true;
      EXPECT_DOUBLE_EQ(f.metric.at(0).gauge.value, 0.25);
    }
  }
  EXPECT_TRUE(found);
}

// Every blade counter has words for its HELP (a new counter without them fails here).
TEST(Metrics, EveryBladeCounterHasHelp) {
  for (const auto& [name, v] : CounterList(BladeCounters{})) {
    if (name.find('.') != std::string::npos) continue;  // sent.*, dropped.* ...: families with their own HELP
    EXPECT_NE(CounterHelp(name), nullptr) << name;
  }
}

}  // namespace
}  // namespace bladesync
