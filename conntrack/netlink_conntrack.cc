#include "conntrack/netlink_conntrack.h"

#include "conntrack/ct_mapping.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack_tcp.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <sys/socket.h>

#include <atomic>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#ifndef NETLINK_CAP_ACK
#define NETLINK_CAP_ACK 10
#endif

namespace bladesync {
namespace {

// Netlink request numbers: distinct per request of this process (the
// kernel echoes them; nothing else reads them).
uint32_t NextRequestSeq() {
  static std::atomic<uint32_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

struct CtDeleter {
  void operator()(nf_conntrack* ct) const { nfct_destroy(ct); }
};
using CtPtr = std::unique_ptr<nf_conntrack, CtDeleter>;

bool IsIcmp(uint8_t proto) { return proto == kProtoIcmp || proto == kProtoIcmp6; }

IpAddr V4Net(uint32_t net) { return IpAddr::V4(ntohl(net)); }
IpAddr V6Bytes(const void* p) {
  IpAddr a;
  std::memcpy(a.b.data(), p, 16);
  return a;
}

KernelEntry FromNfct(const nf_conntrack* ct) {
  KernelEntry e;
  const uint8_t family = nfct_get_attr_u8(ct, ATTR_ORIG_L3PROTO);
  const uint8_t proto = nfct_get_attr_u8(ct, ATTR_ORIG_L4PROTO);
  e.key.proto = proto;
  if (family == AF_INET) {
    e.key.src = V4Net(nfct_get_attr_u32(ct, ATTR_ORIG_IPV4_SRC));
    e.key.dst = V4Net(nfct_get_attr_u32(ct, ATTR_ORIG_IPV4_DST));
    e.reply_src = V4Net(nfct_get_attr_u32(ct, ATTR_REPL_IPV4_SRC));
    e.reply_dst = V4Net(nfct_get_attr_u32(ct, ATTR_REPL_IPV4_DST));
  } else {
    e.key.src = V6Bytes(nfct_get_attr(ct, ATTR_ORIG_IPV6_SRC));
    e.key.dst = V6Bytes(nfct_get_attr(ct, ATTR_ORIG_IPV6_DST));
    e.reply_src = V6Bytes(nfct_get_attr(ct, ATTR_REPL_IPV6_SRC));
    e.reply_dst = V6Bytes(nfct_get_attr(ct, ATTR_REPL_IPV6_DST));
  }
  if (IsIcmp(proto)) {
    const uint16_t id = ntohs(nfct_get_attr_u16(ct, ATTR_ICMP_ID));
    const uint8_t type = nfct_get_attr_u8(ct, ATTR_ICMP_TYPE);
    const uint8_t code = nfct_get_attr_u8(ct, ATTR_ICMP_CODE);
    e.key.sport = e.reply_sport = id;
    e.key.dport = static_cast<uint16_t>((type << 8) | code);
    e.reply_dport = static_cast<uint16_t>((IcmpReplyType(proto, type) << 8) | code);
  } else {
    e.key.sport = ntohs(nfct_get_attr_u16(ct, ATTR_ORIG_PORT_SRC));
    e.key.dport = ntohs(nfct_get_attr_u16(ct, ATTR_ORIG_PORT_DST));
    e.reply_sport = ntohs(nfct_get_attr_u16(ct, ATTR_REPL_PORT_SRC));
    e.reply_dport = ntohs(nfct_get_attr_u16(ct, ATTR_REPL_PORT_DST));
  }
  if (nfct_attr_is_set(ct, ATTR_ZONE) > 0) e.key.zone = nfct_get_attr_u16(ct, ATTR_ZONE);
  if (nfct_attr_is_set(ct, ATTR_STATUS) > 0) e.status = nfct_get_attr_u32(ct, ATTR_STATUS);
  if (nfct_attr_is_set(ct, ATTR_MARK) > 0) e.mark = nfct_get_attr_u32(ct, ATTR_MARK);
  if (nfct_attr_is_set(ct, ATTR_TIMEOUT) > 0) e.timeout_s = nfct_get_attr_u32(ct, ATTR_TIMEOUT);
  if (proto == kProtoTcp) {
    if (nfct_attr_is_set(ct, ATTR_TCP_STATE) > 0) e.tcp_state = nfct_get_attr_u8(ct, ATTR_TCP_STATE);
    if (nfct_attr_is_set(ct, ATTR_TCP_WSCALE_ORIG) > 0) e.wscale_orig = nfct_get_attr_u8(ct, ATTR_TCP_WSCALE_ORIG);
    if (nfct_attr_is_set(ct, ATTR_TCP_WSCALE_REPL) > 0) e.wscale_repl = nfct_get_attr_u8(ct, ATTR_TCP_WSCALE_REPL);
    if (nfct_attr_is_set(ct, ATTR_TCP_FLAGS_ORIG) > 0) e.flags_orig = nfct_get_attr_u8(ct, ATTR_TCP_FLAGS_ORIG);
    if (nfct_attr_is_set(ct, ATTR_TCP_FLAGS_REPL) > 0) e.flags_repl = nfct_get_attr_u8(ct, ATTR_TCP_FLAGS_REPL);
  }
  return e;
}

CtPtr ToNfct(const KernelEntry& e, bool liberal) {
  CtPtr ct(nfct_new());
  const uint8_t proto = e.key.proto;
  const bool v4 = e.key.is_v4();
  nfct_set_attr_u8(ct.get(), ATTR_ORIG_L3PROTO, v4 ? AF_INET : AF_INET6);
  nfct_set_attr_u8(ct.get(), ATTR_REPL_L3PROTO, v4 ? AF_INET : AF_INET6);
  nfct_set_attr_u8(ct.get(), ATTR_ORIG_L4PROTO, proto);
  nfct_set_attr_u8(ct.get(), ATTR_REPL_L4PROTO, proto);
  // With NAT the reply tuple goes in untranslated and the kernel applies the
  // SNAT/DNAT below to it: that sets the NAT status bits packets are
  // translated by (a translated reply tuple alone would not).
  const bool snat = (e.status & kIpsSrcNat) || e.snat();
  const bool dnat = (e.status & kIpsDstNat) || e.dnat();
  const IpAddr& rsrc = (snat || dnat) ? e.key.dst : e.reply_src;
  const IpAddr& rdst = (snat || dnat) ? e.key.src : e.reply_dst;
  const uint16_t rsport = (snat || dnat) ? e.key.dport : e.reply_sport;
  const uint16_t rdport = (snat || dnat) ? e.key.sport : e.reply_dport;
  if (v4) {
    nfct_set_attr_u32(ct.get(), ATTR_ORIG_IPV4_SRC, htonl(e.key.src.v4()));
    nfct_set_attr_u32(ct.get(), ATTR_ORIG_IPV4_DST, htonl(e.key.dst.v4()));
    nfct_set_attr_u32(ct.get(), ATTR_REPL_IPV4_SRC, htonl(rsrc.v4()));
    nfct_set_attr_u32(ct.get(), ATTR_REPL_IPV4_DST, htonl(rdst.v4()));
  } else {
    nfct_set_attr(ct.get(), ATTR_ORIG_IPV6_SRC, e.key.src.b.data());
    nfct_set_attr(ct.get(), ATTR_ORIG_IPV6_DST, e.key.dst.b.data());
    nfct_set_attr(ct.get(), ATTR_REPL_IPV6_SRC, rsrc.b.data());
    nfct_set_attr(ct.get(), ATTR_REPL_IPV6_DST, rdst.b.data());
  }
  if (IsIcmp(proto)) {
    nfct_set_attr_u8(ct.get(), ATTR_ICMP_TYPE, static_cast<uint8_t>(e.key.dport >> 8));
    nfct_set_attr_u8(ct.get(), ATTR_ICMP_CODE, static_cast<uint8_t>(e.key.dport));
    nfct_set_attr_u16(ct.get(), ATTR_ICMP_ID, htons(e.key.sport));
  } else {
    nfct_set_attr_u16(ct.get(), ATTR_ORIG_PORT_SRC, htons(e.key.sport));
    nfct_set_attr_u16(ct.get(), ATTR_ORIG_PORT_DST, htons(e.key.dport));
    nfct_set_attr_u16(ct.get(), ATTR_REPL_PORT_SRC, htons(rsport));
    nfct_set_attr_u16(ct.get(), ATTR_REPL_PORT_DST, htons(rdport));
  }
  if (snat) {
    if (v4) nfct_set_attr_u32(ct.get(), ATTR_SNAT_IPV4, htonl(e.reply_dst.v4()));
    else nfct_set_attr(ct.get(), ATTR_SNAT_IPV6, e.reply_dst.b.data());
    if (!IsIcmp(proto)) nfct_set_attr_u16(ct.get(), ATTR_SNAT_PORT, htons(e.reply_dport));
  }
  if (dnat) {
    if (v4) nfct_set_attr_u32(ct.get(), ATTR_DNAT_IPV4, htonl(e.reply_src.v4()));
    else nfct_set_attr(ct.get(), ATTR_DNAT_IPV6, e.reply_src.b.data());
    if (!IsIcmp(proto)) nfct_set_attr_u16(ct.get(), ATTR_DNAT_PORT, htons(e.reply_sport));
  }
  if (e.key.zone) nfct_set_attr_u16(ct.get(), ATTR_ZONE, e.key.zone);
  nfct_set_attr_u32(ct.get(), ATTR_STATUS, e.status & (kIpsSeenReply | kIpsAssured | kIpsFixedTimeout));
  if (e.mark) nfct_set_attr_u32(ct.get(), ATTR_MARK, e.mark);
  nfct_set_attr_u32(ct.get(), ATTR_TIMEOUT, e.timeout_s ? e.timeout_s : 1);
  if (proto == kProtoTcp) {
    nfct_set_attr_u8(ct.get(), ATTR_TCP_STATE, e.tcp_state);
    uint8_t fo = e.flags_orig, fr = e.flags_repl;
    if (liberal) {
      fo |= kCtTcpBeLiberal;
      fr |= kCtTcpBeLiberal;
    }
    nfct_set_attr_u8(ct.get(), ATTR_TCP_FLAGS_ORIG, fo);
    nfct_set_attr_u8(ct.get(), ATTR_TCP_MASK_ORIG, fo);
    nfct_set_attr_u8(ct.get(), ATTR_TCP_FLAGS_REPL, fr);
    nfct_set_attr_u8(ct.get(), ATTR_TCP_MASK_REPL, fr);
    if ((fo & kCtTcpWindowScale) && (fr & kCtTcpWindowScale)) {
      nfct_set_attr_u8(ct.get(), ATTR_TCP_WSCALE_ORIG, e.wscale_orig);
      nfct_set_attr_u8(ct.get(), ATTR_TCP_WSCALE_REPL, e.wscale_repl);
    }
  }
  return ct;
}

struct MnlDeleter {
  void operator()(mnl_socket* s) const { mnl_socket_close(s); }
};
using MnlPtr = std::unique_ptr<mnl_socket, MnlDeleter>;

Result<MnlPtr> OpenBound(unsigned groups) {
  MnlPtr nl(mnl_socket_open(NETLINK_NETFILTER));
  if (!nl) return Unavailable(std::string("netlink (conntrack): ") + std::strerror(errno));
  if (mnl_socket_bind(nl.get(), groups, MNL_SOCKET_AUTOPID) < 0) {
    return Unavailable(std::string("netlink bind (conntrack): ") + std::strerror(errno));
  }
  return nl;
}

nlmsghdr* PutCtHeader(void* buf, uint16_t msg, uint16_t flags, uint32_t seq, uint8_t family) {
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
  nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | msg;
  nlh->nlmsg_flags = flags;
  nlh->nlmsg_seq = seq;
  auto* nfh = static_cast<nfgenmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(nfgenmsg)));
  nfh->nfgen_family = family;
  nfh->version = NFNETLINK_V0;
  nfh->res_id = 0;
  return nlh;
}

struct ParseCtx {
  const std::function<void(const KernelEntry&)>* entry_fn = nullptr;
  const CtEventSocket::Handler* event_fn = nullptr;
  size_t count = 0;
};

int OnCtMessage(const nlmsghdr* nlh, void* data) {
  auto* c = static_cast<ParseCtx*>(data);
  CtPtr ct(nfct_new());
  if (!ct || nfct_nlmsg_parse(nlh, ct.get()) < 0) return MNL_CB_OK;  // not a conntrack entry: skip it
  const KernelEntry e = FromNfct(ct.get());
  ++c->count;
  if (c->entry_fn) {
    (*c->entry_fn)(e);
  } else if (c->event_fn) {
    const uint16_t type = nlh->nlmsg_type & 0xff;
    CtEvent kind = CtEvent::kUpdate;
    if (type == IPCTNL_MSG_CT_DELETE) kind = CtEvent::kDestroy;
    else if (nlh->nlmsg_flags & (NLM_F_CREATE | NLM_F_EXCL)) kind = CtEvent::kNew;
    (*c->event_fn)(kind, e);
  }
  return MNL_CB_OK;
}

}  // namespace

CtEventSocket::~CtEventSocket() {
  if (nl_) mnl_socket_close(nl_);
}

Status CtEventSocket::Open(size_t buffer_bytes) {
  Result<MnlPtr> nl = OpenBound(NF_NETLINK_CONNTRACK_NEW | NF_NETLINK_CONNTRACK_UPDATE | NF_NETLINK_CONNTRACK_DESTROY);
  if (!nl.ok()) return nl.status();
  nl_ = nl.value().release();
  const int fd = mnl_socket_get_fd(nl_);
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  int size = static_cast<int>(buffer_bytes);
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) < 0) {
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  }
  buffer_bytes_ = buffer_bytes;
  return Status::Ok();
}

int CtEventSocket::fd() const { return nl_ ? mnl_socket_get_fd(nl_) : -1; }

bool CtEventSocket::Grow(size_t max_bytes) {
  if (!nl_ || buffer_bytes_ >= max_bytes) return false;
  buffer_bytes_ = std::min(max_bytes, buffer_bytes_ * 2);
  int size = static_cast<int>(buffer_bytes_);
  setsockopt(fd(), SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size);
  return true;
}

CtEventSocket::ReadResult CtEventSocket::Read(size_t max_messages, const Handler& fn) {
  ReadResult r;
  if (!nl_) return r;
  std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE * 2);
  ParseCtx ctx;
  ctx.event_fn = &fn;
  for (size_t i = 0; i < max_messages; ++i) {
    const ssize_t n = recv(fd(), buf.data(), buf.size(), MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return r;
      if (errno == ENOBUFS) {
        r.overrun = true;
        continue;  // the socket goes on after reporting the loss
      }
      if (errno == EINTR) continue;
      r.error = errno;
      return r;
    }
    mnl_cb_run(buf.data(), static_cast<size_t>(n), 0, 0, OnCtMessage, &ctx);
    r.events = ctx.count;
  }
  r.more = true;
  return r;
}

Status DumpConntrack(const std::function<void(const KernelEntry&)>& fn) {
  Result<MnlPtr> nl = OpenBound(0);
  if (!nl.ok()) return nl.status();
  int size = 8 << 20;
  setsockopt(mnl_socket_get_fd(nl.value().get()), SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size);
  std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE * 4);
  const uint32_t seq = NextRequestSeq();
  nlmsghdr* nlh = PutCtHeader(buf.data(), IPCTNL_MSG_CT_GET, NLM_F_REQUEST | NLM_F_DUMP, seq, AF_UNSPEC);
  if (mnl_socket_sendto(nl.value().get(), nlh, nlh->nlmsg_len) < 0) {
    return Unavailable(std::string("conntrack dump: ") + std::strerror(errno));
  }
  const unsigned portid = mnl_socket_get_portid(nl.value().get());
  ParseCtx ctx;
  ctx.entry_fn = &fn;
  for (;;) {
    const ssize_t n = mnl_socket_recvfrom(nl.value().get(), buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Unavailable(std::string("conntrack dump: ") + std::strerror(errno));
    }
    const int ret = mnl_cb_run(buf.data(), static_cast<size_t>(n), seq, portid, OnCtMessage, &ctx);
    if (ret == MNL_CB_STOP) return Status::Ok();
    if (ret < 0) {
      if (errno == EINTR) continue;
      return Unavailable(std::string("conntrack dump: ") + std::strerror(errno));
    }
  }
}

InstallStats InstallConntrack(std::span<const KernelEntry> entries, const InstallOptions& opt) {
  InstallStats st;
  Result<MnlPtr> nl = OpenBound(0);
  if (!nl.ok()) {
    st.failed = entries.size();
    st.first_error = errno ? errno : EIO;
    return st;
  }
  mnl_socket* s = nl.value().get();
  const int fd = mnl_socket_get_fd(s);
  int one = 1;
  setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);  // acks without the request echoed
  int size = 16 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size);
  // One sendmsg carries a whole batch: the send buffer must hold it.
  int snd = static_cast<int>(opt.batch_bytes * 2 + MNL_SOCKET_BUFFER_SIZE * 2);
  setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &snd, sizeof snd);
  std::vector<char> out(opt.batch_bytes + MNL_SOCKET_BUFFER_SIZE);
  std::vector<char> in(MNL_SOCKET_BUFFER_SIZE * 4);
  uint32_t seq = NextRequestSeq() << 8;

  auto note_error = [&](int err) {
    if (err == 0) {
      ++st.installed;
    } else if (err == EEXIST || (err == ENOENT && opt.op == InstallOptions::Op::kDelete)) {
      ++st.existed;
    } else {
      ++st.failed;
      if (!st.first_error) st.first_error = err;
    }
  };
  // Reads acknowledgements until `pending` have come back.
  auto drain = [&](size_t pending) {
    while (pending > 0) {
      const ssize_t n = recv(fd, in.data(), in.size(), 0);
      if (n < 0) {
        if (errno == EINTR) continue;
        st.failed += pending;
        if (!st.first_error) st.first_error = errno;
        return;
      }
      for (auto* h = reinterpret_cast<const nlmsghdr*>(in.data()); mnl_nlmsg_ok(h, static_cast<int>(n));) {
        if (h->nlmsg_type == NLMSG_ERROR && pending > 0) {
          const auto* err = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(h));
          note_error(-err->error);
          --pending;
        }
        int left = static_cast<int>(n) - static_cast<int>(reinterpret_cast<const char*>(h) - in.data());
        h = mnl_nlmsg_next(h, &left);
        if (left <= 0) break;
      }
    }
  };

  size_t i = 0;
  while (i < entries.size()) {
    size_t used = 0, in_batch = 0;
    while (i < entries.size() && used + MNL_SOCKET_BUFFER_SIZE <= out.size()) {
      KernelEntry e = entries[i];
      e.mark |= opt.mark_or;
      CtPtr ct = ToNfct(e, opt.liberal);
      const bool del = opt.op == InstallOptions::Op::kDelete;
      const uint16_t flags = del ? NLM_F_REQUEST | NLM_F_ACK
                                 : NLM_F_REQUEST | NLM_F_CREATE | NLM_F_ACK |
                                       (opt.op == InstallOptions::Op::kCreate ? NLM_F_EXCL : 0);
      nlmsghdr* nlh = PutCtHeader(out.data() + used, del ? IPCTNL_MSG_CT_DELETE : IPCTNL_MSG_CT_NEW, flags, ++seq,
                                  entries[i].key.is_v4() ? AF_INET : AF_INET6);
      nfct_nlmsg_build(nlh, ct.get());
      used += NLMSG_ALIGN(nlh->nlmsg_len);
      ++in_batch;
      ++i;
    }
    if (sendto(fd, out.data(), used, 0, nullptr, 0) < 0) {
      st.failed += in_batch;
      if (!st.first_error) st.first_error = errno;
      continue;
    }
    drain(in_batch);
  }
  return st;
}

Status FlushConntrack() {
  Result<MnlPtr> nl = OpenBound(0);
  if (!nl.ok()) return nl.status();
  char buf[MNL_SOCKET_BUFFER_SIZE];
  nlmsghdr* nlh = PutCtHeader(buf, IPCTNL_MSG_CT_DELETE, NLM_F_REQUEST | NLM_F_ACK, 1, AF_UNSPEC);
  if (mnl_socket_sendto(nl.value().get(), nlh, nlh->nlmsg_len) < 0) return Unavailable("conntrack flush failed");
  const ssize_t n = mnl_socket_recvfrom(nl.value().get(), buf, sizeof buf);
  if (n < 0) return Unavailable("conntrack flush failed");
  return Status::Ok();
}

}  // namespace bladesync
