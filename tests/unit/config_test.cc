// The FortiOS-style config: every option of the demo file, and bad input
// named by file, line and option.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <sstream>

#include "config/cluster_config.h"

namespace bladesync {
namespace {

const char* kGood = R"(config system interface
    edit "port1"
        set index 1
    next
    edit "wan"
        set index 9
    next
end
config firewall address
    edit "lan"
        set subnet 10.0.0.0 255.0.0.0
    next
end
config firewall address6
    edit "lan6"
        set ip6 2001:db8::/32
    next
end
config system ha
    set group-id 42
    set group-name "edge"
    set mode a-a
    set hb-interval 1
    set hb-lost-threshold 3
    set session-pickup enable
    set session-pickup-connectionless enable
    set session-pickup-delay enable
    set session-pickup-expectation enable
    set session-pickup-nat enable
    set multicast-ttl 600
    set update-all-session-timer enable
    set override enable
    set priority 150
    set monitor "port1" "wan"
    set slots 6
    set password "edge-secret"
    set session-table-reserve 65536
    set hello-holddown 7
    set bulk-sync-timeout 45
    set bulk-sync-retries 5
    set blade-hb-lost-threshold 8
    set max-sessions 200000
    set sync-resend-queue 4096
    set sync-max-batch 512
    config session-sync-filter
        set srcintf "port1"
        set dstintf "wan"
        set srcaddr "lan"
        set dstaddr 192.0.2.0/24
        set srcaddr6 "lan6"
        config custom-service
            edit 1
                set src-port-range 0-0
                set dst-port-range 80-443
            next
        end
    end
    config chassis
        edit 1
            set priority 200
            set m1 10.1.1.1
            set m2 10.2.1.1
            set sync-port 30000
            set check "10.3.1.1:27999"
            set serial "FG7K-A"
            set control "/run/bladesync/edge1.sock"
            set metrics "10.3.1.1:9461"
        next
        edit 2
            set m1 10.1.1.2
            set m2 10.2.1.2
        next
    end
end
config system session-ttl
    set default 7200
end
config system global
    set tcp-halfopen-timer 20
    set tcp-halfclose-timer 60
    set tcp-timewait-timer 2
    set udp-idle-timer 90
end
config load-balance setting
    set dp-load-distribution-method src-ip
    set dp-icmp-distribution-method to-master
end
config load-balance flow-rule
    edit 3
        set protocol udp
        set dst-l4port 161-161
        set action drop
        set priority 2
    next
    edit 4
        set src-interface "port1"
        set forward-slot FPC3
    next
end
)";

TEST(Config, ParsesEveryOption) {
  Result<ClusterConfig> r = LoadClusterConfig(kGood, "good.conf");
  ASSERT_TRUE(r.ok()) << r.status().message();
  const ClusterConfig& c = r.value();
  EXPECT_EQ(c.group_id, 42u);
  EXPECT_EQ(c.group_name, "edge");
  EXPECT_EQ(c.mode, HaMode::kActiveActive);
  EXPECT_EQ(c.hb_interval, 1);
  EXPECT_EQ(c.hb_interval_ns(), milliseconds(100));
  EXPECT_EQ(c.hb_lost_threshold, 3);
  EXPECT_TRUE(c.pickup.session_pickup && c.pickup.connectionless && c.pickup.delay && c.pickup.expectation &&
              c.pickup.nat && c.pickup.update_all_session_timer);
  EXPECT_EQ(c.pickup.multicast_ttl, 600u);
  EXPECT_TRUE(c.override_);
  EXPECT_EQ(c.monitor.size(), 2u);
  EXPECT_EQ(c.slots, 6);
  ASSERT_EQ(c.chassis.size(), 2u);
  EXPECT_EQ(c.chassis[0].priority, 200);
  EXPECT_EQ(c.chassis[1].priority, 150);  // the ha-level default
  EXPECT_EQ(c.chassis[0].sync_port, 30000);
  EXPECT_EQ(c.chassis[0].check, "10.3.1.1:27999");
  EXPECT_EQ(c.chassis[0].serial, "FG7K-A");
  EXPECT_EQ(c.chassis[0].control, "/run/bladesync/edge1.sock");
  EXPECT_EQ(c.chassis[0].metrics, "10.3.1.1:9461");
  EXPECT_EQ(c.chassis[1].control, "/run/bladesync/chassis2.sock");  // the default
  EXPECT_EQ(c.hello_holddown_s, 7u);
  EXPECT_EQ(c.bulk_sync_timeout_s, 45u);
  EXPECT_EQ(c.bulk_sync_retries, 5u);
  EXPECT_EQ(c.blade_hb_lost_threshold, 8u);
  EXPECT_EQ(c.max_sessions, 200000u);
  EXPECT_EQ(c.change_log_capacity, 4096u);
  EXPECT_EQ(c.max_batch, 512u);
  EXPECT_EQ(c.password, "edge-secret");
  EXPECT_EQ(c.fabric_auth(), ClusterConfig::FabricAuth::kPassword);
  const SyncFilter& f = c.pickup.filter;
  EXPECT_EQ(f.srcintf, std::vector<uint8_t>{1});
  EXPECT_EQ(f.dstintf, std::vector<uint8_t>{9});
  ASSERT_EQ(f.srcaddr.size(), 1u);
  EXPECT_TRUE(f.srcaddr[0].Contains(IpAddr::V4(0x0a010203)));
  EXPECT_FALSE(f.srcaddr[0].Contains(IpAddr::V4(0x0b010203)));
  ASSERT_EQ(f.dstaddr.size(), 1u);
  EXPECT_TRUE(f.dstaddr[0].Contains(IpAddr::V4(0xc0000207)));
  ASSERT_EQ(f.srcaddr6.size(), 1u);
  ASSERT_EQ(f.custom_service.size(), 1u);
  EXPECT_EQ(f.custom_service[0].src.lo, 0);
  EXPECT_EQ(f.custom_service[0].src.hi, 65535);
  EXPECT_EQ(f.custom_service[0].dst.lo, 80);
  EXPECT_EQ(f.custom_service[0].dst.hi, 443);
  EXPECT_EQ(c.timers.session_ttl_s, 7200u);
  EXPECT_EQ(c.timers.tcp_halfopen_s, 20u);
  EXPECT_EQ(c.timers.udp_idle_s, 90u);
  EXPECT_EQ(c.distribution.method, DistributionMethod::kSrcIp);
  EXPECT_EQ(c.distribution.icmp_method, DistributionMethod::kToMaster);
  ASSERT_EQ(c.distribution.flow_rules.size(), 2u);
  EXPECT_EQ(c.distribution.flow_rules[0].action, FlowRule::Action::kDrop);
  EXPECT_EQ(c.distribution.flow_rules[1].slot, 3);
  BladeConfig b = c.ForBlade(2, 5, 9);
  EXPECT_EQ(b.chassis, 2);
  EXPECT_EQ(b.slot, 5);
  EXPECT_EQ(b.epoch, 9u);
  EXPECT_EQ(b.group_id, 42u);
  EXPECT_EQ(b.peers.size(), 2u);
  EXPECT_TRUE(b.pickup.session_pickup);
  EXPECT_EQ(b.table_reserve, 65536u);
}

std::string ErrorOf(const std::string& text) {
  Result<ClusterConfig> r = LoadClusterConfig(text, "bad.conf");
  EXPECT_FALSE(r.ok()) << "accepted:\n" << text;
  return r.ok() ? "" : r.status().message();
}

std::string Ha(const std::string& lines) {
  return "config system ha\n" + lines +
         "    config chassis\n        edit 1\n            set m1 127.0.1.1\n            set m2 127.0.2.1\n        next\n"
         "        edit 2\n            set m1 127.0.1.2\n            set m2 127.0.2.2\n        next\n    end\nend\n";
}

TEST(Config, ErrorsNameFileLineAndOption) {
  EXPECT_EQ(ErrorOf(Ha("    set session-pickupp enable\n")),
            "bad.conf:2: option 'session-pickupp' in 'config system ha': unknown option");
  EXPECT_EQ(ErrorOf(Ha("    set session-pickup yes\n")),
            "bad.conf:2: option 'session-pickup' in 'config system ha': expects enable or disable, not 'yes'");
  EXPECT_EQ(ErrorOf(Ha("    set hb-interval 25\n")),
            "bad.conf:2: option 'hb-interval' in 'config system ha': value 25 is out of range 1-20");
  EXPECT_EQ(ErrorOf(Ha("    set hb-lost-threshold six\n")),
            "bad.conf:2: option 'hb-lost-threshold' in 'config system ha': 'six' is not a number");
  EXPECT_EQ(ErrorOf(Ha("    set session-pickup-connectionless enable\n")),
            "bad.conf:2: option 'session-pickup-connectionless' in 'config system ha': requires 'set session-pickup enable'");
  EXPECT_EQ(ErrorOf(Ha("    set session-pickup enable\n    config session-sync-filter\n        set srcaddr \"nosuch\"\n    end\n")),
            "bad.conf:4: option 'srcaddr' in 'config session-sync-filter': unknown address object 'nosuch'");
  EXPECT_EQ(ErrorOf(Ha("    set session-pickup enable\n    config session-sync-filter\n        set srcintf \"port99\"\n    end\n")),
            "bad.conf:4: option 'srcintf' in 'config session-sync-filter': unknown interface 'port99'");
  EXPECT_EQ(ErrorOf(Ha("    set mode active\n")), "bad.conf:2: option 'mode' in 'config system ha': expects a-p or a-a");
  EXPECT_EQ(ErrorOf(Ha("    set max-sessions 100000\n    set session-table-reserve 200000\n")),
            "bad.conf:3: option 'session-table-reserve' in 'config system ha': exceeds max-sessions (100000)");
  // session-pickup-defer: active-active with session-pickup only, its bound in range.
  EXPECT_EQ(ErrorOf(Ha("    set session-pickup enable\n    set session-pickup-defer enable\n")),
            "bad.conf:3: option 'session-pickup-defer' in 'config system ha': requires 'set mode a-a' (in active-passive "
            "every packet goes through the primary)");
  EXPECT_EQ(ErrorOf(Ha("    set mode a-a\n    set session-pickup-defer enable\n")),
            "bad.conf:3: option 'session-pickup-defer' in 'config system ha': requires 'set session-pickup enable'");
  EXPECT_EQ(ErrorOf(Ha("    set mode a-a\n    set session-pickup enable\n    set session-pickup-defer-timeout 0\n")),
            "bad.conf:4: option 'session-pickup-defer-timeout' in 'config system ha': value 0 is out of range 1-1000");
  {
    Result<ClusterConfig> ok = LoadClusterConfig(
        Ha("    set mode a-a\n    set session-pickup enable\n    set session-pickup-defer enable\n"
           "    set session-pickup-defer-timeout 50\n"),
        "ok.conf");
    ASSERT_TRUE(ok.ok()) << ok.status().message();
    EXPECT_TRUE(ok->pickup.defer);
    EXPECT_EQ(ok->pickup.defer_timeout_ms, 50u);
  }
  // A slot the chassis do not have (issue 20: nothing may name a slot that can never be live).
  const std::string slots2 = Ha("    set slots 2\n");
  EXPECT_EQ(ErrorOf(slots2 + "config load-balance flow-rule\n    edit 3\n        set protocol udp\n        set forward-slot FPC5\n"
                             "    next\nend\n"),
            "bad.conf:17: option 'forward-slot' in 'config load-balance flow-rule / edit 3': slot 5 is beyond 'set slots' "
            "(2): its flows would never have their own slot");
  EXPECT_EQ(ErrorOf(slots2 + "config load-balance setting\n    set master-slot 3\nend\n"),
            "bad.conf:15: option 'master-slot' in 'config load-balance setting': slot 3 is beyond 'set slots' (2)");
}

// blade-workers: each worker is a fabric node (WorkerSlots) with its share
// of the blade's max-sessions and session-table-reserve.
TEST(Config, BladeWorkers) {
  Result<ClusterConfig> r = LoadClusterConfig(
      Ha("    set slots 2\n    set blade-workers 4\n    set max-sessions 100000\n    set session-table-reserve 40000\n"),
      "w.conf");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->blade_workers, 4);
  EXPECT_EQ(r->worker_slot_count(), 8);
  const WorkerSlots ws = r->worker_slots();
  EXPECT_EQ(ws.Of(2, 3), 8);
  EXPECT_EQ(ws.BladeOf(5), 2);
  EXPECT_EQ(ws.WorkerOf(5), 0);
  const BladeConfig b = r->ForBlade(1, ws.Of(2, 1), 1);
  EXPECT_EQ(b.slot, 6);
  EXPECT_EQ(b.max_sessions, 25000u);
  EXPECT_EQ(b.table_reserve, 10000u);
  EXPECT_EQ(LoadClusterConfig(Ha("    set slots 2\n"), "a.conf")->ForBlade(1, 2, 1).max_sessions,
            LoadClusterConfig(Ha("    set slots 2\n"), "a.conf")->max_sessions)
      << "one worker: the blade's own limit";
  EXPECT_EQ(ErrorOf(Ha("    set blade-workers 17\n")),
            "bad.conf:2: option 'blade-workers' in 'config system ha': value 17 is out of range 1-16");
  EXPECT_EQ(ErrorOf(Ha("    set slots 8\n    set blade-workers 9\n")),
            "bad.conf:3: option 'blade-workers' in 'config system ha': 8 slots x 9 workers is more than 64 workers per chassis");
  EXPECT_EQ(ErrorOf(Ha("    set blade-workers 2\n") + "config system conntrack\n    set status enable\nend\n"),
            "bad.conf:2: option 'blade-workers' in 'config system ha': the kernel's conntrack table (config system "
            "conntrack) is synced by one worker per blade: set blade-workers 1");
  // Cluster-wide: chassis with different worker counts disagree in diagnose sys ha checksum.
  EXPECT_NE(r->checksums.all, LoadClusterConfig(Ha("    set slots 2\n    set blade-workers 2\n    set max-sessions 100000\n"
                                                   "    set session-table-reserve 40000\n"), "w.conf")->checksums.all);
}

// FortiOS 7's unit for hb-interval: 100ms by default, 10ms for fast
// detection (hb-interval 1..20 then means 10-200 ms).
TEST(Config, HeartbeatIntervalInMilliseconds) {
  Result<ClusterConfig> dflt = LoadClusterConfig(Ha("    set hb-interval 3\n"), "a.conf");
  ASSERT_TRUE(dflt.ok()) << dflt.status().message();
  EXPECT_EQ(dflt->hb_interval_ns(), milliseconds(300));
  Result<ClusterConfig> fast =
      LoadClusterConfig(Ha("    set hb-interval 1\n    set hb-interval-in-milliseconds 10ms\n"), "a.conf");
  ASSERT_TRUE(fast.ok()) << fast.status().message();
  EXPECT_EQ(fast->hb_interval_ns(), milliseconds(10));
  EXPECT_EQ(fast->ForBlade(1, 1, 1).hb_interval, milliseconds(10));
  EXPECT_EQ(fast->peer_probe_timeout(), milliseconds(100)) << "a check address gets 100 ms at least";
  EXPECT_EQ(dflt->peer_probe_timeout(), milliseconds(600));
  Result<ClusterConfig> slow = LoadClusterConfig(Ha("    set hb-interval-in-milliseconds 100ms\n"), "a.conf");
  ASSERT_TRUE(slow.ok()) << slow.status().message();
  EXPECT_EQ(slow->hb_interval_ns(), milliseconds(200));
  EXPECT_EQ(ErrorOf(Ha("    set hb-interval-in-milliseconds 1ms\n")),
            "bad.conf:2: option 'hb-interval-in-milliseconds' in 'config system ha': expects 100ms or 10ms");
  // Part of the cluster-wide options: two chassis with different units
  // disagree in diagnose sys ha checksum.
  EXPECT_NE(dflt->checksums.all,
            LoadClusterConfig(Ha("    set hb-interval 3\n    set hb-interval-in-milliseconds 10ms\n"), "a.conf")->checksums.all);
}

TEST(Config, SyntaxErrorsNameTheLine) {
  EXPECT_EQ(ErrorOf("config system ha\n    set group-id 1\n"), "bad.conf:1: 'system ha' is never closed ('end' or 'next' missing)");
  EXPECT_EQ(ErrorOf("config system ha\n  set group-name \"open\n"), "bad.conf:2: unterminated quoted string");
  EXPECT_EQ(ErrorOf("set group-id 1\n"), "bad.conf:1: 'set' outside a 'config' block");
  EXPECT_EQ(ErrorOf("config system ha\n    bogus x\nend\n"),
            "bad.conf:2: unknown statement 'bogus' (expected config, set, unset, edit, next or end)");
  EXPECT_EQ(ErrorOf("config system hax\nend\n"), "bad.conf:1: unknown block 'config system hax'");
  EXPECT_EQ(ErrorOf("config system ha\n    edit 1\n    end\nend\n"), "bad.conf:3: 'end' before 'next' closes the 'edit 1'");
  EXPECT_EQ(ErrorOf("config system ha\n    set group-id\nend\n"), "bad.conf:2: option 'group-id' needs a value");
}

TEST(Config, ChassisTableIsChecked) {
  EXPECT_EQ(ErrorOf("config system ha\n    config chassis\n    end\nend\n"),
            "bad.conf:1: 'config system ha' needs 'config chassis' with 1 to 4 chassis");
  // One chassis alone is a cluster of one (the packaged default).
  Result<ClusterConfig> one = LoadClusterConfig(
      "config system ha\n    config chassis\n        edit 1\n            set m1 127.0.0.1\n            set m2 127.0.0.2\n"
      "        next\n    end\nend\n", "one.conf");
  ASSERT_TRUE(one.ok()) << one.status().message();
  EXPECT_EQ(one->chassis.size(), 1u);
  EXPECT_EQ(ErrorOf("config system ha\n    config chassis\n        edit 9\n        next\n    end\nend\n"),
            "bad.conf:3: chassis id '9' must be 1 to 4");
  EXPECT_EQ(ErrorOf("config system ha\n    config chassis\n        edit 1\n            set m1 127.0.0.1\n        next\n    end\nend\n"),
            "bad.conf:3: chassis 1 needs 'set m1' and 'set m2' addresses");
}

// Issue 17 point 5: what would fail at start, or be silently ignored, is an
// error that names the line.
TEST(Config, AddressesAreCheckedBeforeStart) {
  auto with = [](const std::string& from, const std::string& to) {
    std::string t = Ha("");
    t.replace(t.find(from), from.size(), to);
    return t;
  };
  EXPECT_EQ(ErrorOf(with("set m1 127.0.1.1", "set m1 127.0.1.999")),
            "bad.conf:4: option 'm1' in 'config chassis / edit 1': '127.0.1.999' is not an IPv4 address");
  EXPECT_EQ(ErrorOf(with("set m2 127.0.2.2", "set m2 ::1")),
            "bad.conf:9: option 'm2' in 'config chassis / edit 2': '::1' is not an IPv4 address: IPv6 sync links are "
            "not supported yet");
  EXPECT_EQ(ErrorOf(with("set m2 127.0.2.1", "set m2 127.0.2.1\n            set metrics 127.0.0.1")),
            "bad.conf:6: option 'metrics' in 'config chassis / edit 1': '127.0.0.1' is not IPv4-address:port (port 0 "
            "to 65535)");
  EXPECT_EQ(ErrorOf(with("set m1 127.0.1.2", "set m1 127.0.1.1")),
            "bad.conf:8: chassis 2 m1 (manager) listens on 127.0.1.1:27100, which chassis 1 m1 (manager) (line 4) "
            "already uses: give each chassis its own addresses or sync-port");
  EXPECT_EQ(ErrorOf(with("set m2 127.0.2.1", "set m2 127.0.1.1")),
            "bad.conf:5: chassis 1 m2 (manager) listens on 127.0.1.1:27100, which chassis 1 m1 (manager) (line 4) "
            "already uses: give each chassis its own addresses or sync-port");
  EXPECT_EQ(ErrorOf(with("set m2 127.0.2.2", "set m2 127.0.2.2\n            set control /run/bladesync/chassis1.sock")),
            "bad.conf:10: chassis 2 control socket /run/bladesync/chassis1.sock is chassis 1's too: each chassis needs "
            "its own");
  // Loopback is each machine's own: chassis on different machines may share it.
  std::string apart = with("set m1 127.0.1.1", "set m1 10.0.1.1\n            set backplane 127.0.0.1");
  apart = apart.replace(apart.find("set m1 127.0.1.2"), 16, "set m1 10.0.1.2\n            set backplane 127.0.0.1");
  EXPECT_TRUE(LoadClusterConfig("config system ha\n    set authentication disable\n" + apart.substr(17), "ok.conf").ok());
}

// Issue 17 point 3: a key is its 40 characters, a file is private-key-file;
// a key beginning with '@' (Z85 has it) is a key.
TEST(Config, PrivateKeyIsNeverReadAsAFile) {
  auto with_key = [](const std::string& line) {
    std::string t = Ha("    set curve enable\n");
    const std::string keys = "            set public-key \"rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7\"\n" + line;
    t.replace(t.find("        next\n"), 0, keys);
    std::string second = "            set public-key \"Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID\"\n"
                         "            set private-key \"D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs\"\n";
    t.replace(t.rfind("        next\n"), 0, second);
    return t;
  };
  Result<ClusterConfig> at = LoadClusterConfig(with_key("            set private-key \"@8Q:Fhq4{)Ay9[+y}%CJT<j&?o$b+e.7q-6Ah0F}\"\n"), "k.conf");
  ASSERT_TRUE(at.ok()) << at.status().message();
  EXPECT_EQ(at->chassis[0].private_key, "@8Q:Fhq4{)Ay9[+y}%CJT<j&?o$b+e.7q-6Ah0F}");
  EXPECT_TRUE(at->curve);
  EXPECT_EQ(at->fabric_auth(), ClusterConfig::FabricAuth::kKeys);
  EXPECT_TRUE(at->chassis[0].private_key_file.empty());
  EXPECT_EQ(ErrorOf(with_key("            set private-key \"@/etc/bladesync/chassis1.key\"\n")),
            "bad.conf:8: option 'private-key' in 'config chassis / edit 1': expects the key itself (40 Z85 characters); "
            "to read it from a file: set private-key-file /etc/bladesync/chassis1.key");
  EXPECT_EQ(ErrorOf(with_key("            set private-key-file \"chassis1.key\"\n")),
            "bad.conf:8: option 'private-key-file' in 'config chassis / edit 1': expects an absolute path");
  Result<ClusterConfig> file = LoadClusterConfig(with_key("            set private-key-file \"/etc/bladesync/c1.key\"\n"), "k.conf");
  ASSERT_TRUE(file.ok()) << file.status().message();
  EXPECT_EQ(file->chassis[0].private_key_file, "/etc/bladesync/c1.key");
}

TEST(Config, NothingIsSilentlyIgnored) {
  EXPECT_EQ(ErrorOf(Ha("    config system ha\n        set bogus-thing 1\n    end\n")),
            "bad.conf:2: unknown block 'config system ha' in 'config system ha'");
  EXPECT_EQ(ErrorOf(Ha("") + "config system ha\n    set bogus-thing 1\nend\n"),
            "bad.conf:13: 'config system ha' appears twice in '(top level)' (first at line 1)");
  EXPECT_EQ(ErrorOf(Ha("    set session-pickup enable\n    config session-sync-filter\n        config bogus\n        end\n    end\n")),
            "bad.conf:4: unknown block 'config bogus' in 'config session-sync-filter'");
  std::string nested = Ha("");
  nested.replace(nested.find("        next\n"), 0, "            config bogus\n                set x 1\n            end\n");
  EXPECT_EQ(ErrorOf(nested), "bad.conf:6: unknown block 'config bogus' in 'config chassis / edit 1'");
  EXPECT_EQ(ErrorOf(Ha("") + "config system interface\n    set index 3\nend\n"),
            "bad.conf:14: option 'index' in 'config system interface' needs an 'edit <name>' first");
  EXPECT_EQ(ErrorOf(Ha("") + "config firewall address\n    edit a\n        set subnet 10.0.0.0/8\n    next\n    edit a\n    next\nend\n"),
            "bad.conf:17: 'edit a' appears twice in 'config firewall address' (first at line 14)");
}

// Issue 17 point 6: no input crashes the parser; nesting has a bound.
TEST(Config, DeepNestingIsAnErrorNotACrash) {
  std::string open;
  for (int i = 0; i < 100000; ++i) open += "config system ha\n";
  EXPECT_EQ(ErrorOf(open), "bad.conf:17: blocks nest deeper than 16 levels ('config' inside 'system ha' from line 16)");
  std::string closed;
  for (int i = 0; i < 60000; ++i) closed += "config system ha\n";
  for (int i = 0; i < 60000; ++i) closed += "end\n";
  EXPECT_EQ(ErrorOf(closed), "bad.conf:17: blocks nest deeper than 16 levels ('config' inside 'system ha' from line 16)");
  std::string edits = "config x\n";
  for (int i = 0; i < 50000; ++i) edits += "edit a\nconfig y\n";
  EXPECT_FALSE(LoadClusterConfig(edits, "bad.conf").ok());
}

// Issue 17 points 7 and 8: options flattened for a reload's diff, and the
// cluster-wide part checksummed per section.
TEST(ConfigOptions, FlattenedChecksummedAndCompared) {
  Result<ClusterConfig> a = LoadClusterConfig(Ha("    set hb-interval 3\n"), "a.conf");
  ASSERT_TRUE(a.ok()) << a.status().message();
  EXPECT_EQ(a->options.at("system ha / hb-interval"), "3");
  EXPECT_EQ(a->options.at("system ha / chassis / 2 / m1"), "127.0.1.2");
  EXPECT_EQ(a->options.count("system ha / priority"), 0u) << "defaults are not options set";
  ASSERT_EQ(a->checksums.sections.size(), kChecksumSections.size());

  // Comments, blank lines and the order of statements change nothing.
  Result<ClusterConfig> same =
      LoadClusterConfig("# a comment\n\n" + Ha("    set group-name \"x\"   # why\n\n    set hb-interval 3\n"), "b.conf");
  ASSERT_TRUE(same.ok());
  Result<ClusterConfig> reordered = LoadClusterConfig(Ha("    set hb-interval 3\n    set group-name \"x\"\n"), "c.conf");
  ASSERT_TRUE(reordered.ok());
  EXPECT_EQ(same->checksums.all, reordered->checksums.all);
  EXPECT_NE(same->checksums.all, a->checksums.all);

  // What differs per chassis stays out; the section that changed is the only one that differs.
  std::string own_key = Ha("    set hb-interval 3\n");
  own_key.replace(own_key.find("set m2 127.0.2.1"), 16, "set m2 127.0.2.1\n            set private-key-file \"/etc/k\"\n"
                                                        "            set control /run/x.sock");
  Result<ClusterConfig> per_chassis = LoadClusterConfig(own_key, "d.conf");
  ASSERT_TRUE(per_chassis.ok()) << per_chassis.status().message();
  EXPECT_EQ(per_chassis->checksums.all, a->checksums.all);
  Result<ClusterConfig> other = LoadClusterConfig(Ha("    set hb-interval 4\n") + "config system global\n    set hostname h\nend\n", "e.conf");
  ASSERT_TRUE(other.ok());
  for (size_t i = 0; i < kChecksumSections.size(); ++i) {
    EXPECT_EQ(other->checksums.sections[i] != a->checksums.sections[i], std::string(kChecksumSections[i]) == "system ha")
        << kChecksumSections[i];
  }
  // Words for people change no checksum.
  std::string commented = Ha("    set hb-interval 3\n") + "config load-balance flow-rule\n    edit 1\n        set comment \"a\"\n    next\nend\n";
  Result<ClusterConfig> c1 = LoadClusterConfig(commented, "c1.conf");
  commented.replace(commented.find("\"a\""), 3, "\"b\"");
  Result<ClusterConfig> c2 = LoadClusterConfig(commented, "c2.conf");
  ASSERT_TRUE(c1.ok() && c2.ok());
  EXPECT_EQ(c1->checksums.all, c2->checksums.all);
  EXPECT_EQ(ChangedOptions(a->options, other->options),
            (std::vector<std::string>{"system global / hostname", "system ha / hb-interval"}));
  EXPECT_TRUE(ChangedOptions(a->options, a->options).empty());
  // `unset` is back to the default: the option is gone.
  Result<ClusterConfig> unset = LoadClusterConfig(Ha("    set hb-interval 3\n    unset hb-interval\n"), "f.conf");
  ASSERT_TRUE(unset.ok());
  EXPECT_EQ(unset->options.count("system ha / hb-interval"), 0u);
}

// Input size is bounded, binary data refused, words in errors cut short, and
// duplicate entries found without a quadratic scan.
TEST(Config, HostileFilesAreRefusedQuicklyAndBriefly) {
  const std::string big = ::testing::TempDir() + "/big.conf";
  {
    std::ofstream out(big);
    out << std::string((4 << 20) + 1, '#');
  }
  Result<ClusterConfig> r = LoadClusterConfigFile(big);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), big + ": larger than 4 MiB: not a config file");
  EXPECT_EQ(ErrorOf(std::string("config system ha\n\0\nend\n", 22)), "bad.conf:2: binary data (a NUL byte): not a config file");
  const std::string error = ErrorOf(std::string(100000, 'x') + "\n");
  EXPECT_LT(error.size(), 200u) << "a long word is echoed whole";
  std::string many = "config system interface\n";
  for (int i = 0; i < 100000; ++i) many += "edit p" + std::to_string(i) + "\nset index 1\nnext\n";
  many += "edit p7\nnext\nend\n";
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(ErrorOf(many), "bad.conf:300002: 'edit p7' appears twice in 'config system interface' (first at line 23)");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5)) << "a quadratic scan";
}

TEST(Config, ConntrackBlock) {
  const std::string ct =
      "config system conntrack\n    set status enable\n    set event-buffer-size 1048576\n"
      "    set resync-interval 30\n    set tcp-window-tracking disable\n    set ignore-address 192.0.2.0/24 10.1.1.1\nend\n";
  Result<ClusterConfig> r = LoadClusterConfig(Ha("") + ct, "fw.conf");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_TRUE(r->conntrack.enabled);
  EXPECT_EQ(r->conntrack.event_buffer, 1048576u);
  EXPECT_EQ(r->conntrack.resync_interval_s, 30u);
  EXPECT_FALSE(r->conntrack.tcp_window_tracking);
  ASSERT_EQ(r->conntrack.ignore.size(), 2u);
  EXPECT_TRUE(r->conntrack.ignore[0].Contains(IpAddr::V4(0xc0000263)));
  EXPECT_EQ(ErrorOf(Ha("") + "config system conntrack\n    set ignore-address bogus\nend\n"),
            "bad.conf:14: option 'ignore-address' in 'config system conntrack': 'bogus' is not an address or prefix");
  EXPECT_EQ(ErrorOf(Ha("") + "config system conntrack\n    set event-buffer-size 10\nend\n"),
            "bad.conf:14: option 'event-buffer-size' in 'config system conntrack': value 10 is out of range 65536-2147483648");
}

std::string ReplaceAll(std::string s, const std::string& from, const std::string& to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) s.replace(at, from.size(), to);
  return s;
}

TEST(Config, ClusterAddressesAndLinkMonitors) {
  const std::string intf =
      "config system interface\n    edit \"lan\"\n        set device eth1\n        set ip 10.0.1.1/24 10.0.5.1 255.255.255.0\n"
      "        set ip6 2001:db8::1/64\n    next\n    edit \"port2\"\n        set ip 192.0.2.1/24\n    next\nend\n";
  const std::string lm =
      "config system link-monitor\n    edit \"gw\"\n        set srcintf \"port2\"\n        set server 192.0.2.254 192.0.2.253\n"
      "        set protocol ping\n        set interval 200\n        set failtime 3\n        set recoverytime 4\n"
      "        set ha-priority 5\n    next\nend\n";
  Result<ClusterConfig> r = LoadClusterConfig(
      intf + lm + Ha("    set virtual-mac enable\n    set arps 3\n    set arps-interval 2\n    set link-failed-signal enable\n"
                     "    set pingserver-monitor-interface \"port2\"\n    set pingserver-failover-threshold 5\n"
                     "    set pingserver-flip-timeout 6\n    set ha-uptime-diff-margin 10\n"),
      "fw.conf");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->DeviceOf("lan"), "eth1");
  EXPECT_EQ(r->DeviceOf("port2"), "port2");
  EXPECT_EQ(r->DeviceOf("port5"), "port5");
  EXPECT_EQ(r->interfaces.at("lan"), 9) << "the first free index from 9";
  ASSERT_EQ(r->ClusterInterfaces().size(), 2u);
  const InterfaceConfig& lan = r->interface_config.at("lan");
  ASSERT_EQ(lan.addresses.size(), 3u);
  EXPECT_EQ(lan.addresses[1].addr.ToString(), "10.0.5.1");
  EXPECT_EQ(lan.addresses[1].prefix_len, 96 + 24);
  EXPECT_EQ(lan.addresses[2].prefix_len, 64);
  EXPECT_TRUE(r->virtual_mac);
  EXPECT_TRUE(r->gratuitous_arps);
  EXPECT_EQ(r->arps, 3u);
  EXPECT_EQ(r->arps_interval_s, 2u);
  EXPECT_TRUE(r->link_failed_signal);
  EXPECT_EQ(r->pingserver_monitor_interface, std::vector<std::string>{"port2"});
  EXPECT_EQ(r->pingserver_failover_threshold, 5u);
  EXPECT_EQ(r->pingserver_flip_timeout_min, 6u);
  EXPECT_EQ(r->ha_uptime_diff_margin_s, 10u);
  ASSERT_EQ(r->link_monitors.size(), 1u);
  const LinkMonitorConfig& m = r->link_monitors[0];
  EXPECT_EQ(m.srcintf, "port2");
  EXPECT_EQ(m.servers.size(), 2u);
  EXPECT_EQ(m.interval_ms, 200u);
  EXPECT_EQ(m.failtime, 3u);
  EXPECT_EQ(m.recoverytime, 4u);
  EXPECT_EQ(m.ha_priority, 5u);
  // The device and a monitor's ha-priority are this host's: not in the checksums.
  Result<ClusterConfig> other = LoadClusterConfig(
      ReplaceAll(intf, "eth1", "ens4") + ReplaceAll(lm, "ha-priority 5", "ha-priority 7") +
          Ha("    set virtual-mac enable\n    set arps 3\n    set arps-interval 2\n    set link-failed-signal enable\n"
             "    set pingserver-monitor-interface \"port2\"\n    set pingserver-failover-threshold 5\n"
             "    set pingserver-flip-timeout 6\n    set ha-uptime-diff-margin 10\n"),
      "fw.conf");
  ASSERT_TRUE(other.ok()) << other.status().message();
  EXPECT_EQ(other->checksums.all, r->checksums.all);
}

TEST(Config, LinkMonitorsThatCountNothingAreWarnedOf) {
  const std::string lm = "config system link-monitor\n    edit \"gw\"\n        set srcintf \"port2\"\n"
                         "        set server 192.0.2.1\n    next\nend\n";
  Result<ClusterConfig> r = LoadClusterConfig(lm + Ha("    set pingserver-monitor-interface \"port3\"\n    set virtual-mac enable\n"), "w.conf");
  ASSERT_TRUE(r.ok()) << r.status().message();
  const std::vector<std::string> w = ConfigWarnings(r.value());
  ASSERT_EQ(w.size(), 3u) << ::testing::PrintToString(w);
  EXPECT_EQ(w[0], "w.conf:8: option 'pingserver-monitor-interface' in 'config system ha': no link monitor on 'port3' "
                  "(config system link-monitor): it counts nothing");
  EXPECT_EQ(w[1], "w.conf:2: link monitor 'gw' on 'port2' does not count in the election: add 'port2' to "
                  "pingserver-monitor-interface");
  EXPECT_NE(w[2].find("'set virtual-mac enable' has no cluster interface"), std::string::npos);
  Result<ClusterConfig> fine = LoadClusterConfig(lm + Ha("    set pingserver-monitor-interface \"port2\"\n"), "w.conf");
  ASSERT_TRUE(fine.ok());
  EXPECT_TRUE(ConfigWarnings(fine.value()).empty());
}

TEST(Config, BadClusterAddressesAndMonitorsNameTheLine) {
  auto with_intf = [](const std::string& body) {
    return "config system interface\n    edit \"lan\"\n" + body + "    next\nend\n" + Ha("");
  };
  EXPECT_EQ(ErrorOf(with_intf("        set ip 10.0.1.300/24\n")),
            "bad.conf:3: option 'ip' in 'config system interface / edit lan': '10.0.1.300/24' is not a valid IPv4 "
            "address/prefix-length (or address and netmask)");
  EXPECT_EQ(ErrorOf(with_intf("        set ip 2001:db8::1/64\n")),
            "bad.conf:3: option 'ip' in 'config system interface / edit lan': '2001:db8::1/64' is not a valid IPv4 "
            "address/prefix-length (or address and netmask)");
  EXPECT_EQ(ErrorOf(with_intf("        set ip 127.0.0.5/8\n")),
            "bad.conf:3: option 'ip' in 'config system interface / edit lan': '127.0.0.5' cannot be a cluster address "
            "(unspecified, loopback, multicast or reserved)");
  EXPECT_EQ(ErrorOf(with_intf("        set device a/b\n")),
            "bad.conf:3: option 'device' in 'config system interface / edit lan': expects a Linux interface name (at "
            "most 15 characters, no '/', ':' or spaces)");
  EXPECT_EQ(ErrorOf("config system interface\n    edit \"lan\"\n        set ip 10.0.1.1/24\n    next\n"
                    "    edit \"wan\"\n        set ip 10.0.1.1/24\n    next\nend\n" + Ha("")),
            "bad.conf:6: option 'ip' in 'config system interface / edit wan': 10.0.1.1 is already a cluster address of "
            "interface 'lan'");
  EXPECT_EQ(ErrorOf("config system interface\n    edit \"lan\"\n        set device eth1\n    next\n"
                    "    edit \"wan\"\n        set device eth1\n    next\nend\n" + Ha("")),
            "bad.conf:5: interfaces 'lan' and 'wan' are both device 'eth1'");
  auto with_lm = [](const std::string& body) {
    return "config system link-monitor\n    edit \"gw\"\n" + body + "    next\nend\n" + Ha("");
  };
  EXPECT_EQ(ErrorOf(with_lm("        set srcintf \"eth7\"\n        set server 192.0.2.1\n")),
            "bad.conf:3: option 'srcintf' in 'config system link-monitor / edit gw': unknown interface 'eth7'");
  EXPECT_EQ(ErrorOf(with_lm("        set srcintf \"port1\"\n        set server 2001:db8::1\n")),
            "bad.conf:4: option 'server' in 'config system link-monitor / edit gw': '2001:db8::1' is not an IPv4 unicast "
            "address (ping monitors IPv4 servers)");
  EXPECT_EQ(ErrorOf(with_lm("        set srcintf \"port1\"\n        set server 192.0.2.1\n        set protocol http\n")),
            "bad.conf:5: option 'protocol' in 'config system link-monitor / edit gw': only 'ping' is supported");
  EXPECT_EQ(ErrorOf(with_lm("        set server 192.0.2.1\n")),
            "bad.conf:2: link monitor 'gw' needs 'set srcintf <interface>'");
  EXPECT_EQ(ErrorOf(Ha("    set arps 61\n")), "bad.conf:2: option 'arps' in 'config system ha': value 61 is out of range 1-60");
  // a-a traffic addresses: a-a only, known interfaces, one chassis each.
  const std::string aa = ReplaceAll(Ha("    set mode a-a\n"), "        edit 1\n", "        edit 1\n            set traffic-address port1 10.0.1.1/24\n");
  ASSERT_TRUE(LoadClusterConfig(aa, "aa.conf").ok()) << LoadClusterConfig(aa, "aa.conf").status().message();
  EXPECT_EQ(LoadClusterConfig(aa, "aa.conf")->FindChassis(1)->traffic_addresses.size(), 1u);
  EXPECT_NE(ErrorOf(ReplaceAll(aa, "set mode a-a", "set mode a-p")).find("option 'traffic-address' in 'config chassis / edit 1': is for 'set mode a-a'"), std::string::npos);
  EXPECT_NE(ErrorOf(ReplaceAll(aa, "port1 10.0.1.1/24", "eth9 10.0.1.1/24")).find("unknown interface 'eth9'"), std::string::npos);
  EXPECT_NE(ErrorOf(ReplaceAll(aa, "        edit 2\n", "        edit 2\n            set traffic-address port1 10.0.1.1/24\n"))
                .find("10.0.1.1 is chassis 1's too"), std::string::npos);
  EXPECT_EQ(ErrorOf(Ha("    set pingserver-monitor-interface \"eth9\"\n")),
            "bad.conf:2: option 'pingserver-monitor-interface' in 'config system ha': unknown interface 'eth9'");
}

std::string Slurp(const char* path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(Config, ShippedExamplesLoad) {
  // (secure.conf needs keys from `bladesync keygen` first.)
  Result<ClusterConfig> demo = LoadClusterConfigFile("examples/demo.conf");
  ASSERT_TRUE(demo.ok()) << demo.status().message();
  EXPECT_EQ(demo->fabric_auth(), ClusterConfig::FabricAuth::kPassword) << "the demo runs the secure default";
  // The firewall example ships a placeholder password that must be replaced.
  std::string fw = Slurp("examples/linux-firewall.conf");
  Result<ClusterConfig> placeholder = LoadClusterConfig(fw, "fw.conf");
  ASSERT_FALSE(placeholder.ok());
  EXPECT_NE(placeholder.status().message().find("option 'password' in 'config system ha': is the example's placeholder"),
            std::string::npos) << placeholder.status().message();
  fw.replace(fw.find("REPLACE-WITH-A-SECRET"), 21, "our-own-secret");
  Result<ClusterConfig> r = LoadClusterConfig(fw, "fw.conf");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_TRUE(r->conntrack.enabled);
  EXPECT_EQ(r->fabric_auth(), ClusterConfig::FabricAuth::kPassword);
}

// Beyond loopback the fabric is authenticated unless the file says otherwise.
std::string HaAt(const std::string& m1_prefix, const std::string& lines) {
  return "config system ha\n" + lines + "    config chassis\n        edit 1\n            set m1 " + m1_prefix +
         ".1\n            set m2 127.0.2.1\n        next\n        edit 2\n            set m1 " + m1_prefix +
         ".2\n            set m2 127.0.2.2\n        next\n    end\nend\n";
}

TEST(Config, AuthenticationIsTheDefaultBeyondLoopback) {
  using A = ClusterConfig::FabricAuth;
  Result<ClusterConfig> lo = LoadClusterConfig(HaAt("127.0.1", ""), "a.conf");
  ASSERT_TRUE(lo.ok()) << lo.status().message();
  EXPECT_EQ(lo->fabric_auth(), A::kOff) << "loopback only: allowed (bladesyncd warns)";
  EXPECT_EQ(ErrorOf(HaAt("10.1.1", "")),
            "bad.conf:1: M1, M2 and the backplane use addresses beyond this host, so the fabric must be "
            "authenticated: add 'set password <secret>' (the same on every chassis), or keys with "
            "'set curve enable', or 'set authentication disable' to run unauthenticated");
  Result<ClusterConfig> pw = LoadClusterConfig(HaAt("10.1.1", "    set password \"s3cret\"\n"), "a.conf");
  ASSERT_TRUE(pw.ok()) << pw.status().message();
  EXPECT_EQ(pw->fabric_auth(), A::kPassword);
  EXPECT_EQ(pw->password, "s3cret");
  Result<ClusterConfig> off = LoadClusterConfig(HaAt("10.1.1", "    set authentication disable\n"), "a.conf");
  ASSERT_TRUE(off.ok()) << off.status().message();
  EXPECT_EQ(off->fabric_auth(), A::kOff);
  EXPECT_FALSE(off->authentication);
  EXPECT_EQ(ErrorOf(HaAt("10.1.1", "    set authentication disable\n    set password \"s3cret\"\n")),
            "bad.conf:3: option 'password' in 'config system ha': contradicts 'set authentication disable'");
  EXPECT_EQ(ErrorOf(HaAt("10.1.1", "    set curve enable\n    set password \"s3cret\"\n")),
            "bad.conf:3: option 'password' in 'config system ha': and 'set curve enable' are two ways to key the "
            "fabric: keep one");
  EXPECT_EQ(ErrorOf(HaAt("10.1.1", "    set password \"REPLACE-WITH-A-SECRET\"\n")),
            "bad.conf:2: option 'password' in 'config system ha': is the example's placeholder: choose a secret of "
            "your own");
  // Backplane counts too: a TCP backplane on a LAN address is reachable.
  std::string bp = HaAt("127.0.1", "");
  bp.replace(bp.find("set m2 127.0.2.1"), 16, "set m2 127.0.2.1\n            set backplane 192.0.2.1");
  EXPECT_NE(ErrorOf(bp).find("must be authenticated"), std::string::npos);
}

// A '#' inside a word is part of it (found in review: `set password abc#def`
// became "abc" on one chassis and "abc#def" quoted on the other).
TEST(Config, HashInsideAWordIsNotAComment) {
  Result<ClusterConfig> r = LoadClusterConfig(Ha("    set password abc#def # a comment\n    set group-name x#1\n"), "c.conf");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->password, "abc#def");
  EXPECT_EQ(r->group_name, "x#1");
}

TEST(Config, CommentsQuotesAndUnset) {
  Result<ClusterConfig> r = LoadClusterConfig(Ha("    # a comment\n    set group-name \"two words\" # trailing\n    set priority 9\n    unset priority\n"), "c.conf");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->group_name, "two words");
  EXPECT_EQ(r->chassis[0].priority, 128);  // unset: back to the default, whatever was set before
  // The last statement decides: a later set replaces an earlier one (not added to it).
  Result<ClusterConfig> twice = LoadClusterConfig(Ha("    set monitor \"port1\" \"port2\"\n    set monitor \"port3\"\n    set hb-interval 3\n"
                                                     "    unset hb-interval\n    set hb-interval 4\n"), "c.conf");
  ASSERT_TRUE(twice.ok()) << twice.status().message();
  EXPECT_EQ(twice->monitor, (std::vector<std::string>{"port3"}));
  EXPECT_EQ(twice->hb_interval, 4);
  Result<ClusterConfig> back = LoadClusterConfig(Ha("    set hb-interval 3\n    unset hb-interval\n"), "c.conf");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->hb_interval, ClusterConfig{}.hb_interval);
}

}  // namespace
}  // namespace bladesync
