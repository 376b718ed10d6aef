// SPDX-License-Identifier: Apache-2.0
// TCP checksum offload for the tunnel: the netstack may leave the TCP checksum of the packets it sends
// to the "device", as a NIC's TX checksum offload does, and sealInPlace fills it just before encrypting
// (Linux's wireguard does the same for CHECKSUM_PARTIAL packets, with skb_checksum_help). Summing 1400
// bytes here costs about a tenth of what it costs in JavaScript, and rides on a call already made.
#include <stdint.h>
#include <string.h>

#include "addon.h"

// One's-complement sum of p[0, n) as big-endian 16-bit words, added to `sum` (unfolded).
static uint64_t sum_be16(const uint8_t* p, size_t n, uint64_t sum) {
  // Native 32-bit words (little-endian here), folded and byte-swapped at the end (RFC 1071 2(B)).
  uint64_t le = 0;
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    uint32_t w;
    memcpy(&w, p + i, 4);
    le += w;
  }
  while (le >> 16) le = (le & 0xffff) + (le >> 16);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  sum += ((le & 0xff) << 8) | (le >> 8);
#else
  sum += le;
#endif
  for (; i + 1 < n; i += 2) sum += (uint32_t)p[i] << 8 | p[i + 1];
  if (i < n) sum += (uint32_t)p[i] << 8;
  return sum;
}

void fill_tcp_checksum(uint8_t* p, size_t n) {
  if (n < 20) return;
  size_t hl, total, alen;
  const uint8_t* src;
  const uint8_t* dst;
  if (p[0] >> 4 == 4) {
    hl = (size_t)(p[0] & 15) * 4;
    total = (size_t)p[2] << 8 | p[3];
    // TCP, a sane header, and not a fragment (MF set or an offset): those carry a partial segment.
    if (p[9] != 6 || hl < 20 || total > n || total < hl + 20 || (p[6] & 0x3f) != 0 || p[7] != 0) return;
    src = p + 12;
    dst = p + 16;
    alen = 4;
  } else if (p[0] >> 4 == 6 && n >= 40) {
    // Only TCP right after the fixed header: the netstack sends no extension headers.
    hl = 40;
    total = 40 + ((size_t)p[4] << 8 | p[5]);
    if (p[6] != 6 || total > n || total < hl + 20) return;
    src = p + 8;
    dst = p + 24;
    alen = 16;
  } else {
    return;
  }
  uint8_t* tcp = p + hl;
  size_t len = total - hl;
  tcp[16] = tcp[17] = 0;
  uint64_t sum = sum_be16(src, alen, 0);
  sum = sum_be16(dst, alen, sum);
  sum += 6 + (len >> 16) + (len & 0xffff);
  sum = sum_be16(tcp, len, sum);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  uint16_t c = (uint16_t)~sum;
  tcp[16] = (uint8_t)(c >> 8);
  tcp[17] = (uint8_t)c;
}
